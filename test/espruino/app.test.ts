// The Espruino reference app's wake cycle on Espruino's interpreter against
// `xsiot cloud`: each wake is one process (the Linux double turns deep sleep
// into the end of the process, and the next process is the wake), Storage
// (espruino.flash) is what survives. Witnesses are on the cloud's side: its
// telemetry store (deduplicated readings by sequence number), the shadow
// document and the job execution.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import { build, doublePath, flash, run, skipNoEspruino, tempDevice } from "./harness.ts";

const skip = skipNoEspruino;
let cloud: Cloud;
const thing = "esp-node-1";

before(async () => {
  if (skip) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), "xsiot-espcloud-"));
  cloud = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
});
after(async () => {
  if (cloud) await cloud.close();
});

async function readings(): Promise<{ seq: number; v: number; mv: number }[]> {
  const r = await fetch(`${cloud.httpUrl}/things/${thing}/telemetry/readings?from=0&limit=100`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { readings: { seq: number; v: number; mv: number }[] }).readings;
}

/** One wake: the double, then the app (which require()s the bundle from Storage); ends at deep sleep. */
async function wake(dir: string): Promise<Record<string, any>[]> {
  const r = run(dir, `${readFileSync(doublePath, "utf8")}\n${build().app}`, { timeoutMs: 60000 });
  const slept = await r.waitFor(/^sim: deep sleep/);
  // On a build with ESP32's fixed 16,383 variables (espruino/esp32-model.sh) the budget holds:
  // at least half of them free at the wake's peak.
  const m = /peak (\d+) of (\d+) variables/.exec(slept);
  if (m && +m[2] === 16383) assert.ok(+m[1] <= 16383 / 2, `peak ${m[1]} of 16383 variables: less than half free`);
  await r.done;
  if (process.env.XSIOT_ESPRUINO_LINES) console.log(r.lines.join("\n"));
  const events = r.lines.filter((l) => l.startsWith("xsiot ")).map((l) => JSON.parse(l.slice(6)));
  assert.ok(!events.some((e) => e.event === "error"), `errors: ${r.lines.join("\n")}`);
  return events;
}

test("wake cycle: sample, uplink with sequence numbers, shadow config, a job to SUCCEEDED, sleep; the next wake goes on from flash", { skip }, async () => {
  const dir = tempDevice();
  const port = Number(new URL(cloud.url).port);
  const settings = {
    version: "1.2.3",
    thing,
    host: "127.0.0.1",
    port,
    wifi: { ssid: "lab" },
    // Every wake uplinks one reading (batch 1), so each wake is seen by the cloud.
    sleep: { sampleS: 60, uplinkS: 3600, batch: 1, checkpointEvery: 1, radioBudgetMs: 8000 },
    board: {
      thermistor: { pin: 34, r25: 10000, beta: 3950, seriesOhms: 10000, topology: "ntc-to-ground", supplyMv: 3300 },
      battery: { pin: 35, top: 100000, bottom: 100000 },
    },
  };
  // NTC at half the supply: 10 kΩ, 25 °C; battery pin at 1.85 V behind a 1:1 divider: 3700 mV.
  await flash(dir, { xsiot: build().bundle, "xsiot.json": JSON.stringify(settings), "sim.adc": JSON.stringify({ 34: 0.5, 35: 1850 / 3300 }) });
  cloud.registry.ensure(thing);
  await cloud.jobs.createJob({ jobId: "espruino-report-1", targets: [thing], document: { operation: "report" } });

  const first = await wake(dir);
  const up1 = first.find((e) => e.event === "uplink");
  assert.ok(up1 && up1.data.ok, `first wake uplinks: ${JSON.stringify(first)}`);
  assert.equal(first.find((e) => e.event === "boot")!.data.thing, thing);
  let rows = await readings();
  assert.deepEqual(rows.map((r) => r.seq), [1]);
  assert.equal(rows[0].v, 25);
  assert.equal(rows[0].mv, 3700);
  // The job ran to SUCCEEDED with what the app reported.
  const ex = cloud.jobs.execution("espruino-report-1", thing)!;
  assert.equal(ex.status, "SUCCEEDED", JSON.stringify(first));
  assert.equal(ex.statusDetails?.runtime, "espruino");
  // The shadow: reported by the app; a desired config set now is a delta the next wake applies.
  const doc = cloud.shadows.get(thing) as any;
  assert.equal(doc.state.reported.version, "1.2.3");
  assert.equal(doc.state.reported.runtime, "espruino");
  await cloud.shadows.update(thing, "", { state: { desired: { config: { sampleS: 120 } } } });

  const second = await wake(dir);
  const up2 = second.find((e) => e.event === "uplink");
  assert.ok(up2 && up2.data.ok, `second wake uplinks: ${JSON.stringify(second)}`);
  const sleep2 = second.find((e) => e.event === "sleep")!;
  assert.equal(sleep2.data.seq, 2, "the sequence continues from the flash-kept state");
  rows = await readings();
  assert.deepEqual(rows.map((r) => r.seq), [1, 2]);
  const doc2 = cloud.shadows.get(thing) as any;
  assert.deepEqual(doc2.state.reported.config, { sampleS: 120 }, "the delta was applied and reported");
  assert.equal(doc2.state.delta, undefined);
  // The scheduler took the new interval: it sleeps about 120 s, not 60.
  assert.ok(sleep2.data.ms > 60000 && sleep2.data.ms <= 120000, `sleep ${sleep2.data.ms} ms`);
});
