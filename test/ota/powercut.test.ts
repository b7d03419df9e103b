// Power cuts at random instants of an update: inside storage writes (key-value
// records, flash blocks, the erase, otadata) during download, verification and
// the partition switch, and at random virtual times. Every boot must find a
// bootable image; on the old image the job is still pending (resumable); each
// run ends on the new image, validated, the job SUCCEEDED, with at most one
// window fetched again per cut.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import { createSigningKey, type SigningKey } from "../../tools/ota/signing.ts";
import { build, createOtaJob, execution, nodeDevice, runUntil, logsOf, bootsOf, TERMINAL, streams } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "xsiot-ota-cut-"));
let cloud: Cloud;
let key: SigningKey;
before(async () => {
  cloud = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
  key = await createSigningKey();
});
after(async () => {
  await cloud.close();
  rmSync(dir, { recursive: true, force: true });
});

const WINDOW = 8;
const seed = Number(process.env.OTA_CUT_SEED ?? Date.now() % 100000);
let s = seed;
const random = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);

/** Runs one update with power cut at the given storage points (counted from the job's creation) and virtual delays. */
async function updateWithCuts(run: number, cutPoints: Set<number>, timeCuts: number[]) {
  const thing = `cut-${run}`;
  const image = build("1.1.0");
  let points = 0;
  let cuts = 0;
  let jobId = "";
  let streamId = "";
  const violations: string[] = [];
  const { device, events } = nodeDevice(
    cloud,
    build("1.0.0"),
    thing,
    key.publicKey,
    { window: WINDOW, requestTimeoutMs: 1500 },
    {
      onEvent(e) {
        if (e.type === "no-app") violations.push(`unbootable at ${e.t}`);
        if (e.type === "boot" && jobId && e.version === "1.0.0") {
          const st = execution(cloud, jobId, thing).status;
          if (TERMINAL.has(st)) violations.push(`old image booted with the job ${st}: not resumable`);
        }
      },
    },
  );
  device.storage.powerCutHook = (point) => {
    if (!jobId) return false;
    points++;
    if (!cutPoints.has(points)) return false;
    cuts++;
    return true;
  };
  try {
    await device.run(500);
    ({ jobId, streamId } = await createOtaJob(cloud, thing, image.bytes, "1.1.0", key.keyPem));
    for (const at of timeCuts)
      device.at(device.now + at, () => {
        cuts++;
        device.powerCut(500);
      });
    const ended = await runUntil(device, () => TERMINAL.has(execution(cloud, jobId, thing).status) && device.runningImage?.version === "1.1.0", 120_000);
    const ex = execution(cloud, jobId, thing);
    return { device, events, ended, ex, points, cuts, violations, stats: streams(cloud).statsFor(thing, streamId) };
  } finally {
    device.storage.powerCutHook = undefined;
    device.shutdown();
  }
}

test(`50 power cuts across 10 updates (seed ${seed}): never unbootable, always resumable, each run ends on 1.1.0 validated`, { timeout: 80_000 }, async () => {
  // A clean run first: how many storage points an update has.
  const clean = await updateWithCuts(0, new Set(), []);
  assert.equal(clean.ex.status, "SUCCEEDED", logsOf(clean.events).join("\n"));
  const total = clean.points;
  const blocks = Math.ceil(build("1.1.0").bytes.length / 4096);
  let allCuts = 0;
  for (let run = 1; run <= 10; run++) {
    const cutPoints = new Set<number>();
    while (cutPoints.size < 4) cutPoints.add(1 + Math.floor(random() * total));
    const timeCuts = [Math.floor(random() * 1500)];
    const r = await updateWithCuts(run, cutPoints, timeCuts);
    const story = `run ${run} cuts at points ${[...cutPoints].join(",")} and +${timeCuts}ms; boots ${bootsOf(r.events).join(" ")}\n${logsOf(r.events).slice(-30).join("\n")}`;
    assert.deepEqual(r.violations, [], story);
    assert.ok(!r.device.summary.stoppedBecause, `${r.device.summary.stoppedBecause}\n${story}`);
    assert.ok(r.ended, `did not finish: ${JSON.stringify(r.ex)}\n${story}`);
    assert.equal(r.ex.status, "SUCCEEDED", `${JSON.stringify(r.ex)}\n${story}`);
    assert.equal(r.device.runningImage?.version, "1.1.0");
    assert.equal(r.device.storage.readOtaData().states.ota_1, "valid");
    for (const e of r.events) if (e.type === "boot" && e.version !== "1.0.0" && e.version !== "1.1.0") assert.fail(`unknown image ${e.version}`);
    assert.ok(r.stats.blocks <= blocks + r.cuts * WINDOW, `${r.stats.blocks} blocks sent for ${blocks} with ${r.cuts} cuts (window ${WINDOW})\n${story}`);
    allCuts += r.cuts;
  }
  assert.ok(allCuts >= 50, `only ${allCuts} cuts landed`);
  console.log(`seed ${seed}: ${allCuts} power cuts over 10 updates, ${total} storage points per clean update`);
});

