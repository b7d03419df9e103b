// OTA end to end on the virtual ESP32 against the local cloud: JobsAgent +
// OtaAgent on real XS, the cloud's streams and jobs services over real MQTT.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import { createSigningKey, type SigningKey } from "../../tools/ota/signing.ts";
import { build, createOtaJob, execution, nodeDevice, runUntil, logsOf, bootsOf, TERMINAL, streams } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "xsiot-ota-e2e-"));
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

test("1.0.0 -> 1.1.0: windowed stream download, signature verified, switch, self-test, SUCCEEDED; the device then runs and reports 1.1.0", async () => {
  const thing = "ota-full";
  const statuses: string[] = [];
  await cloud.bus.subscribe(`dt/${thing}/status`, (m) => void statuses.push(JSON.parse(m.payload.toString()).version));
  const v11 = build("1.1.0");
  const { device, events } = nodeDevice(cloud, build("1.0.0"), thing, key.publicKey);
  try {
    const { jobId, streamId } = await createOtaJob(cloud, thing, v11.bytes, "1.1.0", key.keyPem);
    const ended = await runUntil(device, () => TERMINAL.has(execution(cloud, jobId, thing).status), 120_000);
    const ex = execution(cloud, jobId, thing);
    assert.ok(ended, `job did not end: ${JSON.stringify(ex)}\n${logsOf(events).join("\n")}`);
    assert.equal(ex.status, "SUCCEEDED", JSON.stringify(ex) + "\n" + logsOf(events).join("\n"));
    assert.equal(ex.statusDetails?.version, "1.1.0");
    assert.equal(device.runningImage?.version, "1.1.0");
    assert.deepEqual(device.storage.readOtaData().states.ota_1, "valid");
    await runUntil(device, () => statuses.includes("1.1.0"), 5000);
    assert.deepEqual(statuses.slice(-1), ["1.1.0"], "the new build reports its version");
    assert.ok(events.some((e) => e.type === "ota-valid" && e.version === "1.1.0"));
    const st = streams(cloud).statsFor(thing, streamId);
    const blocks = Math.ceil(v11.bytes.length / 4096);
    assert.equal(st.blocks, blocks, "every block sent once");
    assert.ok(st.requests <= Math.ceil(blocks / 32) + 1, `windowed: ${st.requests} requests for ${blocks} blocks`);
    console.log(`image ${v11.bytes.length} bytes, ${blocks} blocks in ${st.requests} requests; boots: ${bootsOf(events).join(", ")}; virtual ${Math.round(device.now)} ms`);
  } finally {
    device.shutdown();
  }
});

for (const [mode, reason] of [
  ["fail", /self-test of 1\.1\.0 failed: sensor bus check failed; rolled back/],
  ["hang", /self-test of 1\.1\.0 failed: no result within 5000 ms; rolled back/],
  ["panic", /new image 1\.1\.0 did not confirm itself \(panic reset; boot loader rolled back to 1\.0\.0\)/],
] as const) {
  test(`new image whose first boot ${mode === "panic" ? "panics" : `self-test ${mode}s`}: rolled back, job FAILED with the reason on the old image`, async () => {
    const thing = `ota-rb-${mode}`;
    const { device, events } = nodeDevice(cloud, build("1.0.0"), thing, key.publicKey);
    try {
      const { jobId } = await createOtaJob(cloud, thing, build("1.1.0", { selfTest: mode }).bytes, "1.1.0", key.keyPem);
      const ended = await runUntil(device, () => TERMINAL.has(execution(cloud, jobId, thing).status), 120_000);
      const ex = execution(cloud, jobId, thing);
      assert.ok(ended, `job did not end: ${JSON.stringify(ex)}\n${logsOf(events).join("\n")}`);
      assert.equal(ex.status, "FAILED", logsOf(events).join("\n"));
      assert.match(ex.statusDetails?.reason ?? "", reason);
      assert.equal(device.runningImage?.version, "1.0.0", "the old image runs");
      const boots = bootsOf(events);
      assert.ok(boots.some((b) => b.startsWith("1.1.0@ota_1")), `the new image was tried: ${boots}`);
      assert.match(boots.at(-1)!, /^1\.0\.0@ota_0/);
      assert.ok(events.some((e) => e.type === "rollback"));
      assert.ok(!events.some((e) => e.type === "ota-valid"));
      assert.notEqual(device.storage.readOtaData().states.ota_1, "valid");
    } finally {
      device.shutdown();
    }
  });
}
