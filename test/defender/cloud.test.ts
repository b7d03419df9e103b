// Device Defender in the local cloud, driven by MQTT.js clients over real sockets:
// report validation (AWS's format, JSON and CBOR, long and short keys, the
// documented accepted/rejected topics), storage, and alarms from device-side
// and cloud-side metrics.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { encode as cbor } from "cbor-x";
import type { Cloud, DefenderService } from "../../tools/cloud/index.ts";
import { run as defenderCli } from "../../tools/cli/commands/defender.ts";
import { Device, tempDir, testCloud } from "../cloud/helpers.ts";

const tmp = tempDir("xsiot-defender-");
let cloud: Cloud;
let defender: DefenderService;
before(async () => {
  cloud = await testCloud({ dir: tmp.dir, port: 0, tlsPort: 0, httpPort: 0 });
  defender = cloud.service<DefenderService>("defender")!;
});
after(async () => {
  await cloud.close();
  tmp.cleanup();
});

const report = (rid: number, bytesOut = 1200) => ({
  header: { report_id: rid, version: "1.0" },
  metrics: {
    listening_tcp_ports: { ports: [], total: 0 },
    network_stats: { bytes_in: 300, bytes_out: bytesOut, packets_in: 4, packets_out: 6 },
    tcp_connections: { established_connections: { connections: [{ remote_addr: "192.0.2.1:8883" }], total: 1 } },
  },
});

test("reports: valid JSON (long keys) and CBOR (short keys) are accepted and stored; malformed ones are rejected on the documented topic with a reason", async () => {
  const t = "dd-reporter";
  const d = await Device.connect(cloud.url, { clientId: t });
  await d.client.subscribeAsync(`$aws/things/${t}/defender/metrics/+/+`, { qos: 1 });
  try {
    const base = `$aws/things/${t}/defender/metrics`;
    const ok = await d.request(`${base}/json`, report(100));
    assert.equal(ok.topic, `${base}/json/accepted`);
    assert.equal(ok.json.reportId, 100);
    assert.equal(ok.json.status, "ACCEPTED");

    const short = { hed: { rid: 101, v: "1.0" }, met: { ns: { bi: 10, bo: 20, pi: 1, po: 2 }, tp: { pts: [{ pt: 80 }], t: 1 } }, cmet: { connection_attempts: [{ number: 2 }] } };
    const cborAnswer = d.next((x) => x === `${base}/cbor/accepted` || x === `${base}/cbor/rejected`);
    await d.client.publishAsync(`${base}/cbor`, cbor(short), { qos: 1 });
    const c = await cborAnswer;
    assert.equal(c.topic, `${base}/cbor/accepted`, JSON.stringify(c.json));

    const bad: [unknown, string][] = [
      [{ metrics: {} }, "MissingRequiredField"],
      [{ header: { report_id: 102, version: "2.0" }, metrics: {} }, "InvalidVersion"],
      [{ header: { report_id: 103, version: "1.0" }, metrics: { network_stats: { bytes_in: -1 } } }, "Malformed"],
      [{ header: { report_id: 104, version: "1.0" }, metrics: { disk_usage: 3 } }, "Malformed"],
      [report(101), "DuplicateReportId"],
      ["{not json", "Malformed"],
    ];
    for (const [body, code] of bad) {
      const r = await d.request(`${base}/json`, body);
      assert.equal(r.topic, `${base}/json/rejected`, JSON.stringify(body));
      assert.equal(r.json.status, "REJECTED");
      assert.equal(r.json.statusDetails.ErrorCode, code, JSON.stringify(r.json));
      assert.ok(r.json.statusDetails.ErrorMessage.length > 0);
    }
    const stored = defender.listReports(t);
    assert.deepEqual(stored.map((r) => r.reportId), [100, 101]);
    assert.equal(stored[0].metrics.bytesOut, 1200);
    assert.equal(stored[1].metrics.listeningTcpPorts, 1);
    assert.equal(stored[1].customMetrics.connection_attempts, 2);
    // The node listens on port 80: the baseline profile says a battery node listens on nothing.
    assert.ok(defender.listAlarms({ thingName: t }).some((a) => a.behavior === "listening-ports" && a.value === 1));
  } finally {
    await d.end();
  }
});

test("alarms: a flood of messages and a loop of refused publishes raise them; a quiet thing raises none; the CLI lists them", async () => {
  const quiet = await Device.connect(cloud.url, { clientId: "dd-quiet" });
  const flood = await Device.connect(cloud.url, { clientId: "dd-flood" });
  try {
    for (let i = 0; i < 5; i++) await quiet.client.publishAsync("dt/dd-quiet/telemetry", "{}", { qos: 1 });
    for (let i = 0; i < 150; i++) await flood.client.publishAsync("dt/dd-flood/telemetry", "{}", { qos: 1 });
    // Another thing's shadow, again and again: each publish refused, and the broker closes the connection.
    for (let i = 0; i < 8; i++) {
      const prober = await Device.connect(cloud.url, { clientId: "dd-prober" });
      const closed = new Promise<void>((r) => prober.client.once("close", () => r()));
      prober.client.publish("$aws/things/dd-quiet/shadow/update", "{}", { qos: 1 });
      await closed;
      await prober.end();
    }
    await flood.roundTrip();
    await quiet.roundTrip();
    const alarms = defender.listAlarms();
    const of = (t: string) => alarms.filter((a) => a.thingName === t);
    assert.deepEqual(of("dd-quiet"), []);
    const f = of("dd-flood").find((a) => a.behavior === "message-flood");
    assert.ok(f && f.value > 100 && f.metric === "aws:num-messages-sent", JSON.stringify(alarms));
    const p = of("dd-prober").find((a) => a.behavior === "authorization-failures");
    assert.ok(p && p.value > 5, JSON.stringify(alarms));

    const lines: string[] = [];
    const log = console.log;
    console.log = (s: string) => lines.push(s);
    try {
      assert.equal(await defenderCli(["alarms", "--cloud", cloud.httpUrl]), 0);
    } finally {
      console.log = log;
    }
    const out = lines.join("\n");
    assert.match(out, /dd-flood\s+xsiot-baseline\/message-flood\s+aws:num-messages-sent = \d+/);
    assert.match(out, /dd-prober\s+xsiot-baseline\/authorization-failures/);
    assert.doesNotMatch(out, /dd-quiet/);
  } finally {
    await Promise.all([quiet.end(), flood.end()]);
  }
});

test("profiles: bad ones get a clear error; a group profile applies to its group only", async () => {
  const put = (name: string, body: unknown) => fetch(`${cloud.httpUrl}/defender/profiles/${name}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  let r = await put("p1", { targets: ["all"], behaviors: [{ name: "x", metric: "aws:cpu", criteria: { comparisonOperator: "less-than", value: { count: 1 } } }] });
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { message: string }).message, /metric must be one of/);
  r = await put("p1", { targets: ["all"], behaviors: [{ name: "x", metric: "aws:num-messages-sent", criteria: { comparisonOperator: "less-than", value: { count: 1 }, durationSeconds: 7 } }] });
  assert.equal(r.status, 400);
  r = await put("tight", { targets: ["door-sensors"], behaviors: [{ name: "two-messages", metric: "aws:num-messages-sent", criteria: { comparisonOperator: "less-than-equals", value: { count: 2 }, durationSeconds: 300 } }] });
  assert.equal(r.status, 200);
  cloud.registry.create("dd-door", { attributes: { group: "door-sensors" } });
  cloud.registry.create("dd-other");
  const door = await Device.connect(cloud.url, { clientId: "dd-door" });
  const other = await Device.connect(cloud.url, { clientId: "dd-other" });
  try {
    for (let i = 0; i < 3; i++) {
      await door.client.publishAsync("dt/dd-door/telemetry", "{}", { qos: 1 });
      await other.client.publishAsync("dt/dd-other/telemetry", "{}", { qos: 1 });
    }
    assert.ok(defender.listAlarms({ thingName: "dd-door" }).some((a) => a.profile === "tight"));
    assert.deepEqual(defender.listAlarms({ thingName: "dd-other" }), []);
  } finally {
    await Promise.all([door.end(), other.end()]);
  }
});
