// The reference firmware end to end, on the selected target, asserted through
// the local cloud: first-boot provisioning, telemetry without gaps, a
// threshold alarm, a shadow config change, a broker outage, a GPIO wake.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { bench, cloudOf, telemetry, onSim, type Bench } from "../select.ts";
import { parseScenario } from "../../tools/sim/scenario.ts";
import type { SimTarget } from "../targets/sim.ts";

let b: Bench;
before(async () => {
  b = await bench();
});
after(() => b.close());

const MIN = 60_000;
const room = (extra: Record<string, unknown> = {}) =>
  parseScenario(
    JSON.stringify({
      adc: { "36": { type: "constant", value: 1650 }, "39": { type: "constant", value: 1500 } },
      gpio: { "4": { type: "constant", value: 0 } },
      ...extra,
    }),
  );

test("first boot provisions by claim, then telemetry arrives with no gaps and no duplicates", async () => {
  const t = b.target({ scenario: room(), name: "n1" });
  const data = await telemetry(b, "sensor-SN-101");
  await t.start({ cloud: cloudOf(b), settings: b.settings("SN-101") });
  const provisioned = await t.waitFor((e) => e.ev === "provisioned", 5 * MIN, "provisioning");
  assert.equal(provisioned.thing, "sensor-SN-101");
  assert.ok(b.cloud.registry.get("sensor-SN-101"), "the cloud created the thing");
  // Three uplink intervals (10 min each at HIL settings).
  for (let i = 0; i < 3; i++) await t.waitFor((e) => e.ev === "uplink" && e.ok === true && (e.through as number) >= 10 * (i + 1), 40 * MIN, `uplink ${i + 1}`);
  const seqs = [...data.seen.keys()].sort((x, y) => x - y);
  assert.ok(seqs.length >= 30, `got ${seqs.length} readings`);
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1), "sequence numbers 1..n without a gap");
  assert.deepEqual(data.duplicates, []);
  assert.deepEqual(data.errors, [], "every telemetry message was readable");
  const temps = [...data.seen.values()].map((r) => r.v);
  assert.ok(temps.every((v) => v !== null && v > 15 && v < 25), `thermistor at ~1650 mV reads ~18-22 °C: ${temps.slice(0, 3)}`);
  // Later boots use the stored identity: no second provisioning.
  assert.equal(t.events.filter((e) => e.ev === "provisioned").length, 1);
});

test("telemetry as CBOR: the same readings, decoded by an independent CBOR implementation", async () => {
  const { decode } = await import("cbor-x");
  const t = b.target({ scenario: room(), name: "n6" });
  // The handler only collects: the bus swallows a handler's exceptions, so an assertion
  // there could never fail the test. Decode and assert after the uplinks.
  const payloads: Buffer[] = [];
  await b.cloud.bus.subscribe("dt/sensor-SN-106/telemetry/cbor", ({ payload }) => void payloads.push(Buffer.from(payload)));
  await t.start({ cloud: cloudOf(b), settings: b.settings("SN-106", { telemetryFormat: "cbor" }) });
  await t.waitFor((e) => e.ev === "uplink" && e.ok === true && (e.through as number) >= 11, 30 * MIN, "second uplink");
  assert.ok(payloads.length >= 2, `${payloads.length} CBOR messages`);
  const seqs: number[] = [];
  for (const payload of payloads) {
    const msg = decode(payload) as { fields: string[]; r: number[][] };
    assert.deepEqual(msg.fields, ["seq", "t", "v", "mV", "flags"]);
    for (const row of msg.r) seqs.push(row[0]);
  }
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
  assert.ok(seqs.length >= 11);
});

test("a threshold crossing reaches the cloud within one wake", { skip: !onSim && "needs a heat source on the board's thermistor" }, async () => {
  // The thermistor voltage drops at 25 min: the room heats up past 30 °C.
  const scenario = room({ adc: { "36": { type: "piecewise", points: [["0s", 1650], ["25m", 900]] }, "39": { type: "constant", value: 1500 } } });
  const t = b.target({ scenario, name: "n2" }) as SimTarget;
  const data = await telemetry(b, "sensor-SN-102");
  await t.start({ cloud: cloudOf(b), settings: b.settings("SN-102", { sleep: { sampleS: 60, uplinkS: 3600, high: 30, checkpointEvery: 1 } }) });
  const uplink = await t.waitFor((e) => e.ev === "uplink" && Array.isArray(e.reasons) && (e.reasons as string[]).includes("threshold"), 40 * MIN, "threshold uplink");
  const crossingAt = Date.UTC(2026, 0, 1) + 25 * MIN;
  assert.ok(uplink.at - crossingAt <= 61_000 + 10_000, `uplinked ${(uplink.at - crossingAt) / 1000} s after the crossing (one 60 s wake)`);
  assert.deepEqual(data.errors, []);
  const hot = [...data.seen.values()].find((r) => (r.v ?? 0) > 30);
  assert.ok(hot, "the hot reading is in the cloud");
});

test("a shadow change of the interval takes effect at the next uplink", async () => {
  const t = b.target({ scenario: room(), name: "n3" });
  await t.start({ cloud: cloudOf(b), settings: b.settings("SN-103") });
  await t.waitFor((e) => e.ev === "uplink" && e.ok === true, 15 * MIN, "first uplink");
  await b.cloud.shadows.update("sensor-SN-103", "", { state: { desired: { config: { sampleS: 120 } } } });
  const next = await t.waitFor((e) => e.ev === "uplink" && e.ok === true && (e.at as number) > t.events.find((x) => x.ev === "uplink")!.at, 30 * MIN, "next uplink");
  const sleeps = t.events.filter((e) => e.ev === "sleep" && e.at > next.at);
  const after = await t.waitFor((e) => e.ev === "sleep" && e.at > next.at, 5 * MIN, "sleep after the uplink");
  assert.ok((after.ms as number) > 100_000, `sleeps ~120 s after the change, got ${after.ms} ms (${sleeps.length})`);
  const shadow = b.cloud.shadows.get("sensor-SN-103");
  assert.deepEqual((shadow?.state as { reported?: { config?: unknown } }).reported?.config, { sampleS: 120 });
});

test("a broker outage of hours loses no reading", { skip: !onSim && "needs a switchable network" }, async () => {
  const scenario = room({ network: { down: [["15m", "3h"]] } });
  const t = b.target({ scenario, name: "n4" }) as SimTarget;
  const data = await telemetry(b, "sensor-SN-104");
  await t.start({ cloud: cloudOf(b), settings: b.settings("SN-104") });
  await t.waitFor((e) => e.ev === "uplink" && e.ok === false, 30 * MIN, "a failed uplink during the outage");
  await t.waitFor((e) => e.ev === "uplink" && e.ok === true && e.at > Date.UTC(2026, 0, 1) + 3 * 60 * MIN, 8 * 60 * MIN, "uplink after the outage");
  await t.waitFor((e) => e.ev === "uplink" && e.ok === true && e.at > Date.UTC(2026, 0, 1) + 4 * 60 * MIN, 8 * 60 * MIN, "a later uplink");
  const seqs = [...data.seen.keys()].sort((x, y) => x - y);
  assert.ok(seqs.length >= 200, `${seqs.length} readings`);
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1), "no gap across the outage");
  assert.deepEqual(data.duplicates, []);
  assert.deepEqual(data.errors, [], "every telemetry message was readable");
});

test("a door opening wakes the node and sends an event at once", { skip: !onSim && "needs a relay on the door input" }, async () => {
  const scenario = room({ gpio: { "4": { type: "piecewise", points: [["0s", 0], ["17m30s", 1], ["17m40s", 0]] } } });
  const t = b.target({ scenario, name: "n5" }) as SimTarget;
  const data = await telemetry(b, "sensor-SN-105");
  await t.start({ cloud: cloudOf(b), settings: b.settings("SN-105", { sleep: { sampleS: 300, uplinkS: 3600, checkpointEvery: 1 } }) });
  const door = await t.waitFor((e) => e.ev === "door" && e.open === true, 30 * MIN, "door event");
  assert.equal(door.at - Date.UTC(2026, 0, 1) < 17 * MIN + 30_000 + 1000, true, "woke when the door opened, not at the next timer");
  const uplink = await t.waitFor((e) => e.ev === "uplink" && e.ok === true && e.at >= door.at, 2 * MIN, "event uplink");
  assert.ok((uplink.reasons as string[]).includes("event"));
  assert.deepEqual(data.errors, []);
  assert.ok([...data.seen.values()].some((r) => (r.flags & 2) !== 0), "the cloud got a reading flagged as an event");
});
