// Jobs end to end: the stepper app on the virtual ESP32 (real XS, real MQTTClient,
// real sockets, key-value storage) against the local cloud's jobs service.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import { buildApp } from "../../tools/sim/image.ts";
import { makeDevice } from "../sim/helpers.ts";
import type { TraceEvent } from "../../tools/sim/device.ts";

const app = buildApp(new URL("./apps/stepper", import.meta.url).pathname);
const dir = mkdtempSync(join(tmpdir(), "xsiot-jobs-e2e-"));
let cloud: Cloud;
before(async () => {
  cloud = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
});
after(async () => {
  await cloud.close();
  rmSync(dir, { recursive: true, force: true });
});

function perBoot(events: TraceEvent[]): { reason: unknown; logs: string[] }[] {
  const out: { reason: unknown; logs: string[] }[] = [];
  for (const e of events) {
    if (e.type === "boot") out.push({ reason: e.resetReason, logs: [] });
    else if (e.type === "log" && out.length) out[out.length - 1].logs.push(String(e.text).trimEnd());
  }
  return out;
}

for (const mqttVersion of [4, 5] as const) {
  test(`MQTT ${mqttVersion === 4 ? "3.1.1" : "5"}: jobs created while the device sleeps: malformed -> FAILED, unknown operation -> REJECTED, a 3-step job runs across deep sleep and a power cut -> SUCCEEDED`, async () => {
    const thing = `stepper-v${mqttVersion}`;
    const sfx = `v${mqttVersion}`;
    let created = false;
    let cut = false;
    let armed = false;
    const { device, events } = makeDevice(app, {
      deviceConfig: { port: cloud.ports.mqtt, thing, mqttVersion, sleepS: 30 },
      onEvent(e, d) {
        if (e.type === "sleep" && !created) {
          created = true;
          // Stored synchronously, in this order, while the device is asleep.
          void cloud.jobs.createJob({ jobId: `bad-doc-${sfx}`, targets: [thing], document: { steps: 3 } });
          void cloud.jobs.createJob({ jobId: `unknown-op-${sfx}`, targets: [thing], document: { operation: "format-disk" } });
          void cloud.jobs.createJob({ jobId: `count-${sfx}`, targets: [thing], document: { operation: "count-steps", steps: 3 } });
        }
        // Power fails right after step 2 was saved, while its progress update is in flight: at the
        // instant the device writes that update (a cut scheduled for later raced the device's sleep).
        if (e.type === "log" && String(e.text).startsWith("step 2/3")) armed = true;
        if (armed && !cut && e.type === "publish" && e.topic === `$aws/things/${thing}/jobs/count-${sfx}/update`) {
          cut = true;
          d.powerCut(3000);
        }
      },
    });
    try {
      await device.run(110_000);
    } finally {
      device.shutdown();
    }
    const boots = perBoot(events);
    const all = boots.map((b) => `[${b.reason}] ${b.logs.join(" | ")}`).join("\n");
    assert.ok(boots[0].logs.includes("jobs: no pending job"), all);
    // Wake 1: the two bad jobs are ended, the real one starts and pauses after step 1.
    const w1 = boots[1].logs.join("\n");
    assert.match(w1, new RegExp(`jobs: bad-doc-${sfx}: malformed job document: no operation`));
    assert.match(w1, new RegExp(`jobs: unknown-op-${sfx}: REJECTED \\(unsupported operation "format-disk"\\)`));
    assert.match(w1, new RegExp(`step 1/3 of count-${sfx}\njobs: count-${sfx}: paused`));
    assert.match(w1, new RegExp(`jobs: count-${sfx}: paused IN_PROGRESS`));
    assert.equal(boots[1].reason, "deep-sleep");
    // Wake 2: resumed from storage, step 2, then the power cut.
    assert.match(boots[2].logs.join("\n"), new RegExp(`jobs: count-${sfx}: resuming count-steps\nstep 2/3 of count-${sfx} \\(resumed\\)`));
    assert.ok(!boots[2].logs.includes("sleeping"), "power was cut before it could sleep");
    // After the power cut (a cold boot: RAM and RTC memory gone), key-value storage carries the job on.
    assert.equal(boots[3].reason, "power-on");
    assert.match(boots[3].logs.join("\n"), new RegExp(`step 3/3 of count-${sfx} \\(resumed\\)[^]*jobs: count-${sfx}: SUCCEEDED[^]*jobs: no pending job`));
    assert.ok(!all.includes("error:") && !all.includes("mqtt closed"), all);

    const bad = cloud.jobs.execution(`bad-doc-${sfx}`, thing)!;
    assert.equal(bad.status, "FAILED");
    assert.equal(bad.statusDetails?.reason, "malformed job document: no operation");
    const unknown = cloud.jobs.execution(`unknown-op-${sfx}`, thing)!;
    assert.equal(unknown.status, "REJECTED");
    assert.equal(unknown.statusDetails?.reason, 'unsupported operation "format-disk"');
    const ok = cloud.jobs.execution(`count-${sfx}`, thing)!;
    assert.equal(ok.status, "SUCCEEDED");
    assert.equal(ok.statusDetails?.steps, "3");
    assert.equal(ok.statusDetails?.step, "3/3");
    assert.equal(cloud.jobs.getJob(`count-${sfx}`)!.status, "COMPLETED");
    // The agent cleared its storage once the job ended.
    assert.equal(device.storage.kvRead("xsiot-jobs", "exec"), undefined);
    assert.equal(device.storage.kvRead("xsiot-jobs", "state"), undefined);
    assert.ok(events.some((e) => e.type === "kv-write" && e.path === "xsiot-jobs" && e.key === "state"));
  });
}
