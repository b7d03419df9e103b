// The cloud's telemetry view: readings kept once per (thing, sequence number),
// duplicates counted, gaps told apart by the loss counters the device declared,
// stored before the PUBACK leaves the broker, refused publishes counted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { startCloud, silentLogger } from "../../tools/cloud/index.ts";
import type { TelemetryService } from "../../tools/cloud/telemetry.ts";

const msg = (seqs: number[], counters: { lost?: number; evicted?: number; corrupted?: number } = {}) =>
  JSON.stringify({ fields: ["seq", "t", "v", "mV", "flags"], r: seqs.map((s) => [s, 1_767_225_600 + s * 900, 20 + s / 10, 3000, 0]), ...counters });

test("telemetry view: dedupe, declared and undeclared gaps, stored before PUBACK, refusals counted", async (t) => {
  const cloud = await startCloud({ dir: mkdtempSync(join(tmpdir(), "xsiot-tel-")), port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
  t.after(() => cloud.close());
  const tel = cloud.service<TelemetryService>("telemetry")!;
  assert.ok(tel.durableBeforeAck);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${cloud.ports.mqtt}`, { clientId: "tel-a", clean: true, reconnectPeriod: 0 });
  t.after(() => client.end(true));
  const rowsOf = () => (cloud.store.db.prepare("SELECT COUNT(*) AS n FROM telemetry WHERE thing = 'tel-a'").get() as { n: number }).n;

  // The row is in SQLite by the time the PUBACK reaches the device.
  await client.publishAsync("dt/tel-a/telemetry", msg([1, 2, 3]), { qos: 1 });
  assert.equal(rowsOf(), 3, "stored before the acknowledgement");
  await client.publishAsync("dt/tel-a/telemetry", msg([3, 4]), { qos: 1 }); // 3 again: a resend
  // 5-6 lost at a power cut and declared; 9 evicted and declared; 12 missing and never declared.
  await client.publishAsync("dt/tel-a/telemetry", msg([7, 8], { lost: 2 }), { qos: 1 });
  await client.publishAsync("dt/tel-a/telemetry", msg([10, 11], { lost: 2, evicted: 1 }), { qos: 1 });
  await client.publishAsync("dt/tel-a/telemetry", msg([13], { lost: 2, evicted: 1 }), { qos: 1 });
  await client.publishAsync("dt/tel-a/telemetry", "not telemetry", { qos: 1 });

  const v = tel.view("tel-a");
  assert.equal(v.readings, 9);
  assert.equal(v.duplicates, 1);
  assert.equal(v.conflicts, 0);
  assert.equal(v.garbled, 1);
  assert.equal(v.missing, 4);
  assert.deepEqual(v.declared, { lost: 2, evicted: 1, corrupted: 0, total: 3 });
  assert.equal(v.undeclared, 1);
  assert.deepEqual(v.gaps, [
    { from: 5, to: 6, declared: true },
    { from: 9, to: 9, declared: true },
    { from: 12, to: 12, declared: false },
  ]);

  // A sequence number reused with other content is a conflict, not a plain duplicate.
  await client.publishAsync("dt/tel-a/telemetry", JSON.stringify({ r: [[13, 5, 1, 1, 1]] }), { qos: 1 });
  assert.equal(tel.view("tel-a").conflicts, 1);

  // Refused: another thing's telemetry topic. Counted, visible over HTTP.
  // MQTT 3.1.1 has no refusal code: the broker closes the connection.
  const closed = new Promise<void>((r) => client.once("close", () => r()));
  client.publish("dt/tel-b/telemetry", msg([1]), { qos: 1 }, () => undefined);
  await closed;
  const other = await mqtt.connectAsync(`mqtt://127.0.0.1:${cloud.ports.mqtt}`, { clientId: "tel-b", clean: true, reconnectPeriod: 0 });
  t.after(() => other.end(true));
  await other.publishAsync("dt/tel-b/telemetry", msg([1]), { qos: 1 }); // a round trip through the broker after the refused one
  const res = await fetch(`${cloud.httpUrl}/telemetry/refused`);
  const body = (await res.json()) as { refused: { client: string; kind: string; count: number }[] };
  assert.ok(body.refused.some((r) => r.client === "tel-a" && r.kind === "publish" && r.count >= 1), JSON.stringify(body));
  const view = (await (await fetch(`${cloud.httpUrl}/things/tel-a/telemetry`)).json()) as { readings: number };
  assert.equal(view.readings, 9);
});
