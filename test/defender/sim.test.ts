// Device Defender with nodes on the virtual ESP32 (real XS, the SDK's report and
// MQTT client, key-value storage across deep sleep) against the local cloud,
// whose clock follows the running node's virtual clock so rate windows are
// virtual minutes: a calm node raises nothing over a virtual week; the same
// firmware told to send a hundred times its traffic raises alarms.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { type Cloud, type DefenderService } from "../../tools/cloud/index.ts";
import { buildApp } from "../../tools/sim/image.ts";
import { makeDevice } from "../sim/helpers.ts";
import { cloudOnDeviceClock } from "../cloud/helpers.ts";

const app = buildApp(new URL("./apps/chatty", import.meta.url).pathname);
const clocked = cloudOnDeviceClock("xsiot-defender-sim-");
let cloud: Cloud;
before(async () => {
  cloud = await clocked.start();
});

async function runNode(thing: string, config: { sleepS: number; messages: number; bytes: number; periodS: number }, ms: number) {
  const { device, events } = makeDevice(app, { deviceConfig: { port: cloud.ports.mqtt, thing, ...config } });
  clocked.follow(device);
  try {
    await device.run(ms);
  } finally {
    device.shutdown();
    clocked.follow(undefined);
  }
  return events;
}

test("a calm node over a virtual week: hourly reports accepted, no alarm", async () => {
  const events = await runNode("dd-calm", { sleepS: 3600, messages: 1, bytes: 64, periodS: 3600 }, 7 * 86_400_000);
  const defender = cloud.service<DefenderService>("defender")!;
  const reports = defender.listReports("dd-calm");
  const logs = events.filter((e) => e.type === "log").map((e) => String(e.text));
  assert.ok(!logs.some((l) => l.startsWith("error")), logs.join("\n"));
  const sent = logs.filter((l) => l.startsWith("defender: reported")).length;
  assert.ok(sent >= 160, `${sent} reports in a week of hourly wakes`);
  assert.equal(reports.length, 48, "the cloud keeps a thing's last 48 reports");
  // Each report counts the traffic since the one before: one telemetry message and its PUBACK, plus MQTT's own packets.
  for (const r of reports.slice(1)) {
    assert.ok(r.metrics.packetsOut! >= 2 && r.metrics.packetsOut! <= 8, JSON.stringify(r.metrics));
    assert.ok(r.metrics.bytesOut! > 64 && r.metrics.bytesOut! < 400, JSON.stringify(r.metrics));
    assert.equal(r.metrics.establishedConnections, 1);
    assert.equal(r.metrics.listeningTcpPorts, 0);
  }
  assert.deepEqual(defender.listAlarms({ thingName: "dd-calm", all: true }), []);
});

test("the same node told to send a hundred times its traffic raises message-flood and bytes-out alarms", async () => {
  await runNode("dd-chatty", { sleepS: 3600, messages: 150, bytes: 2000, periodS: 3600 }, 3 * 3_600_000);
  const defender = cloud.service<DefenderService>("defender")!;
  const behaviors = defender.listAlarms({ thingName: "dd-chatty", all: true }).map((a) => a.behavior).sort();
  assert.deepEqual(behaviors, ["bytes-out", "message-flood"]);
  const flood = defender.listAlarms({ thingName: "dd-chatty", all: true }).find((a) => a.behavior === "message-flood")!;
  assert.ok(flood.value >= 150, JSON.stringify(flood));
});
