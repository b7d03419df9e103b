// Shadow end to end: the shadow app on the virtual ESP32 (real XS, real MQTTClient,
// real sockets) against the local cloud (aedes + shadow service + policy).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import { buildApp } from "../../tools/sim/image.ts";
import { makeDevice } from "../sim/helpers.ts";
import type { TraceEvent } from "../../tools/sim/device.ts";

const app = buildApp(new URL("./apps/interval", import.meta.url).pathname);
const dir = mkdtempSync(join(tmpdir(), "xsiot-shadow-e2e-"));
let cloud: Cloud;
before(async () => {
  cloud = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
});
after(async () => {
  await cloud.close();
  rmSync(dir, { recursive: true, force: true });
});

const logsOf = (events: TraceEvent[]) => events.filter((e) => e.type === "log").map((e) => String(e.text));
/** Log lines grouped per boot. */
function perBoot(events: TraceEvent[]): string[][] {
  const out: string[][] = [];
  for (const e of events) {
    if (e.type === "boot") out.push([]);
    else if (e.type === "log" && out.length) out[out.length - 1].push(String(e.text));
  }
  return out;
}

test("MQTT 3.1.1: desired interval changed while the device sleeps is applied at the next wake and reported back; another thing's shadow is refused", async () => {
  const thing = "shadow-a";
  let changed = false;
  const { device, events } = makeDevice(app, {
    deviceConfig: { port: cloud.ports.mqtt, thing, mqttVersion: 4, foreign: "someone-else" },
    onEvent(e) {
      // First deep sleep: the operator changes the desired interval while the device is off the network.
      if (e.type === "sleep" && !changed) {
        changed = true;
        void cloud.shadows.update(thing, "", { state: { desired: { interval: 30 } } });
      }
    },
  });
  try {
    await device.run(150_000);
  } finally {
    device.shutdown();
  }
  const boots = perBoot(events);
  const sleeps = events.filter((e) => e.type === "sleep").map((e) => Number(e.us) / 1e6);
  assert.ok(boots.length >= 3, `boots: ${JSON.stringify(boots)}`);
  // Boot 1: no shadow yet; reports its default.
  assert.ok(boots[0].includes("synced version=0 exists=false"), boots[0].join(" | "));
  assert.match(boots[0].join("\n"), /foreign shadow error: shadow someone-else: not authorized: the broker refused the subscription to \$aws\/things\/someone-else\/shadow\/get\/accepted \(reason 0x80\)/);
  assert.equal(sleeps[0], 60);
  // Boot 2: woke with interval 60 and applied 30 from the get (not from a live delta: it was asleep).
  assert.equal(boots[1][0], "boot interval=60");
  const i = boots[1].indexOf("interval applied 30");
  const s = boots[1].findIndex((l) => l.startsWith("synced"));
  assert.ok(i >= 0 && i < s, `applied during sync: ${boots[1].join(" | ")}`);
  assert.equal(sleeps[1], 30, "the new interval decides the sleep");
  assert.equal(boots[2][0], "boot interval=30");
  assert.equal(sleeps[2], 30);
  // The cloud sees the device's report: desired and reported agree, no delta left.
  const doc = cloud.shadows.get(thing) as any;
  assert.equal(doc.state.reported.interval, 30);
  assert.equal(doc.state.desired.interval, 30);
  assert.equal(doc.state.delta, undefined);
  assert.ok(!logsOf(events).some((l) => l.startsWith("mqtt closed") || l.startsWith("error")), logsOf(events).join(" | "));
  assert.throws(() => cloud.shadows.get("someone-else"), /No shadow/);
});

test("MQTT 5: live deltas: stale, malformed and oversized ones are ignored with a reason; a fresh one applies; another thing's shadow is refused (0x87)", async () => {
  const thing = "shadow-c";
  // The foreign thing has a shadow the device must not be able to read.
  await cloud.shadows.update("shadow-secret", "", { state: { reported: { secret: 1 } } });
  // An earlier history: the device will know version 2 after its get.
  await cloud.shadows.update(thing, "", { state: { reported: { interval: 60 } } });
  await cloud.shadows.update(thing, "", { state: { reported: { note: "x" } } });
  let injected = false;
  const { device, events } = makeDevice(app, {
    deviceConfig: { port: cloud.ports.mqtt, thing, mqttVersion: 5, awakeMs: 4000, foreign: "shadow-secret" },
    onEvent(e) {
      if (e.type === "log" && String(e.text).startsWith("synced") && !injected) {
        injected = true;
        const delta = `$aws/things/${thing}/shadow/update/delta`;
        void (async () => {
          await cloud.bus.publish(delta, { version: 1, timestamp: 1, state: { interval: 7 } }); // stale: older than the get
          await cloud.bus.publish(delta, "{not json");
          await cloud.bus.publish(delta, JSON.stringify({ version: 99, state: { interval: 8, pad: "x".repeat(9000) } })); // > 8 KB
          await cloud.bus.publish(delta, { version: 98, state: "interval=9" }); // wrong type
          await cloud.bus.publish(delta, { state: { interval: 10 } }); // no version
          await cloud.shadows.update(thing, "", { state: { desired: { interval: "fast" } } }); // handler refuses the type
          await cloud.shadows.update(thing, "", { state: { desired: { interval: 45 } } }); // the real change
        })();
      }
    },
  });
  try {
    await device.run(20_000);
  } finally {
    device.shutdown();
  }
  const logs = logsOf(events);
  const text = logs.join("\n");
  assert.match(text, /foreign shadow error: shadow shadow-secret: not authorized: .*\$aws\/things\/shadow-secret\/shadow\/get\/accepted \(reason 0x87\)/);
  assert.ok(!logs.some((l) => l.startsWith("foreign shadow read")), "the foreign shadow was never read");
  assert.ok(logs.includes("synced version=2 exists=true"), text);
  assert.match(text, /shadow shadow-c: delta ignored: stale version 1 \(known 2\)/);
  assert.match(text, /shadow shadow-c: delta ignored: invalid JSON/);
  assert.match(text, /shadow shadow-c: delta ignored: document of \d+ bytes exceeds 8192/);
  assert.match(text, /shadow shadow-c: delta ignored: state is not an object/);
  assert.match(text, /shadow shadow-c: delta ignored: no valid version/);
  assert.match(text, /desired\.interval refused \(delta v3\): interval must be an integer 5\.\.86400, got "fast"/);
  for (const bad of [7, 8, 9, 10]) assert.ok(!logs.includes(`interval applied ${bad}`), `interval ${bad} must not apply`);
  assert.ok(logs.includes("interval applied 45"), text);
  assert.ok(!logs.some((l) => l.startsWith("mqtt closed") || l.startsWith("error")), text);
  const sleeps = events.filter((e) => e.type === "sleep").map((e) => Number(e.us) / 1e6);
  assert.equal(sleeps[0], 45);
  const doc = cloud.shadows.get(thing) as any;
  assert.equal(doc.state.reported.interval, 45);
  assert.equal(doc.state.delta, undefined);
  assert.deepEqual((cloud.shadows.get("shadow-secret") as any).state.reported, { secret: 1 });
});
