// The sleep scheduler on the virtual ESP32 (real XS engine) against the local cloud
// (real broker, real sockets): 7 virtual days at 15-minute sampling.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import { buildApp } from "../../tools/sim/image.ts";
import { parseScenario } from "../../tools/sim/scenario.ts";
import { makeDevice } from "../sim/helpers.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const app = buildApp(new URL("./apps/node", import.meta.url).pathname);

interface Seen {
  seq: number;
  t: number;
  v: number;
  flags: number;
  at: number; // virtual ms when the cloud got it
}

async function runNode(cloud: Cloud, thing: string, days: number, scenario: object, sleep: object, setup?: (d: ReturnType<typeof makeDevice>["device"]) => void) {
  const seen: Seen[] = [];
  let device!: ReturnType<typeof makeDevice>["device"];
  let drained!: () => void;
  const barrier = new Promise<void>((resolve) => (drained = resolve));
  await cloud.bus.subscribe(`dt/${thing}/#`, (m) => {
    if (m.topic === `dt/${thing}/barrier`) return drained();
    if (!m.topic.endsWith("/telemetry")) return;
    const doc = JSON.parse(m.payload.toString()) as { r: number[][] };
    for (const [seq, t, v, , flags] of doc.r) seen.push({ seq, t, v, flags, at: device.now });
  });
  const made = makeDevice(app, { scenario: parseScenario(JSON.stringify(scenario)), deviceConfig: { thing, mqttPort: cloud.ports.mqtt, sleep } });
  device = made.device;
  setup?.(device);
  try {
    await device.run(days * 24 * HOUR);
  } finally {
    device.shutdown();
  }
  // Let the bus drain: its handlers run one message at a time in arrival order, so
  // once a marker published now has been handled, everything the device sent has been.
  await cloud.bus.publish(`dt/${thing}/barrier`, "", { qos: 0 });
  await barrier;
  const wakes = made.events.filter((e) => e.type === "log" && String(e.text).startsWith("wake ")).map((e) => ({ t: e.t, ...JSON.parse(String(e.text).slice(5)) }));
  return { seen, wakes, events: made.events, device };
}

async function telemetryView(cloud: Cloud, thing: string): Promise<{ readings: number; undeclared: number; declared: { corrupted: number } }> {
  const res = await fetch(`${cloud.httpUrl}/things/${thing}/telemetry`, cloud.token ? { headers: { authorization: `Bearer ${cloud.token}` } } : {});
  assert.equal(res.status, 200);
  return (await res.json()) as { readings: number; undeclared: number; declared: { corrupted: number } };
}

test("sensor node on the virtual ESP32 with the local cloud", { concurrency: 2 }, async (t) => {
  const cloud = await startCloud({ dir: mkdtempSync(join(tmpdir(), "xsiot-sleep-")), port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
  t.after(() => cloud.close());

  await t.test("7 days, 12 h broker outage, threshold, door: every reading once, in order, nothing lost", async () => {
    const scenario = {
      adc: { "36": { type: "piecewise", points: [["0s", 1000], [180000, 1000], [180001, 2000], [190800, 2000], [190801, 1000]] }, "39": 1500 },
      gpio: { "4": { type: "piecewise", points: [["0s", 1], [288420, 0], [288600, 1]] } },
      network: { down: [["24h", "36h"]] },
    };
    const r = await runNode(cloud, "node-a", 7, scenario, { high: 150 });
    const seqs = r.seen.map((s) => s.seq);
    const maxSeq = r.wakes[r.wakes.length - 1].seq as number;
    const timerWakes = r.wakes.filter((w) => w.kind !== "gpio").length;
    assert.equal(timerWakes, 7 * 96, "672 sampling wakes");
    assert.equal(new Set(seqs).size, seqs.length, "no duplicates");
    // Everything up to the last uplink arrived; what is left is what the device still holds.
    const last = r.wakes[r.wakes.length - 1];
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), "every sequence number, in order");
    // Accounting from two independent sources: every sequence number the device
    // issued (its trace) is in the cloud's store, or still held by the device
    // (flash queue + retained ring), or declared lost/evicted/corrupted. A held
    // reading may also be in the cloud (sent, acknowledgement not seen): counted once.
    const view = await telemetryView(cloud, "node-a");
    const held = last.queued + last.ring;
    const alsoInCloud = (cloud.store.db.prepare("SELECT COUNT(*) AS n FROM telemetry WHERE thing = ? AND seq > ?").get("node-a", maxSeq - held) as { n: number }).n;
    const declared = last.lost + last.evicted + view.declared.corrupted;
    assert.equal(view.readings + held - alsoInCloud + declared, maxSeq,
      `issued ${maxSeq} = in the cloud ${view.readings} + held ${held} (${alsoInCloud} of them also in the cloud) + declared ${declared}`);
    assert.equal(view.undeclared, 0, "no gap the device did not declare");
    assert.equal(view.readings, seqs.length, "the cloud's store holds what the bus saw");
    assert.equal(last.issued, maxSeq, "the last wake issued the highest sequence number");
    assert.ok(held <= 24 + 4, `at most one batch not yet sent at the end (${held})`);
    assert.equal(last.evicted, 0);
    assert.equal(last.lost, 0, "no power loss, nothing lost");
    // Outage: failed attempts back off, then the backlog goes out.
    const failed = r.wakes.filter((w) => w.uplink && !w.ok);
    assert.ok(failed.length >= 3 && failed.length <= 8, `${failed.length} failed attempts in the outage`);
    assert.ok(failed.every((w) => w.t - r.events[0].t >= 24 * HOUR - MIN && w.t - r.events[0].t < 36 * HOUR + 3 * HOUR));
    const joins = r.events.filter((e) => e.type === "wifi-join").length;
    assert.ok(joins < 7 * 4 + 12, `${joins} Wi-Fi joins in 7 days`);
    // Threshold at 50 h: the crossing reading reaches the cloud in the wake that took it.
    const cross = r.seen.find((s) => s.flags & 1)!;
    assert.ok(cross, "a threshold reading arrived");
    const crossWake = r.wakes.find((w) => w.seq === cross.seq)!;
    assert.ok(crossWake.uplink && crossWake.reasons.includes("threshold") && crossWake.ok);
    assert.ok(cross.at - 50 * HOUR >= 0 && cross.at - 50 * HOUR <= 15 * MIN + 30_000, `crossing delivered ${(cross.at - 50 * HOUR) / 1000} s after it happened`);
    // Door: two GPIO wakes, each an event uplinked at once.
    const events = r.seen.filter((s) => s.flags & 2);
    assert.equal(events.length, 2, "door open and close events");
    assert.ok(events[0].at >= 80 * HOUR + 7 * MIN && events[0].at < 80 * HOUR + 8 * MIN, "the door event went out in the wake it caused");
    assert.equal(events[0].flags & 16, 0, "open: level 0");
    assert.equal(events[1].flags & 16, 16, "closed: level 1");
  });

  await t.test("a shadow change of the interval takes effect at the next uplink", async () => {
    let changedAt = 0;
    const r = await runNode(cloud, "node-b", 2, { adc: { "36": 1000, "39": 1500 } }, {}, (device) => {
      device.at(26 * HOUR, () => {
        changedAt = device.now;
        void cloud.shadows.update("node-b", "", { state: { desired: { config: { sampleS: 1800 } } } });
      });
    });
    assert.ok(changedAt > 0);
    const uplinkAfter = r.wakes.find((w) => w.t - r.events[0].t > 26 * HOUR && w.uplink && w.ok)!;
    assert.equal(uplinkAfter.sampleS, 1800, "applied at the first uplink after the change");
    const before = r.wakes.filter((w) => w.t < uplinkAfter.t);
    assert.ok(before.every((w) => w.sampleS === 900));
    assert.ok(before.slice(1).every((w) => w.sleepMs < 15 * MIN + 1000));
    const after = r.wakes.filter((w) => w.t > uplinkAfter.t);
    assert.ok(after.length > 5 && after.every((w) => w.sampleS === 1800 && w.sleepMs > 29 * MIN && w.sleepMs <= 30 * MIN + 1000));
    // Server time corrected the clock: the readings carry the cloud's time.
    const lastSeen = r.seen[r.seen.length - 1];
    assert.ok(Math.abs(lastSeen.t * 1000 - Date.now()) < 3 * 86400_000, "reading time is server time, not the device's unset clock");
  });
});
