// Commands through a real Mosquitto 2 (MQTT 5), the cloud's services attached by URL:
// the cloud publishes each command at once with a Message Expiry Interval, and the
// broker holds it for the thing's persistent session and drops it on time.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type IPublishPacket } from "mqtt";
import { startCloud, silentLogger, type Cloud, type CommandsService } from "../../tools/cloud/index.ts";
import { buildApp } from "../../tools/sim/image.ts";
import type { VirtualDevice } from "../../tools/sim/device.ts";
import { makeDevice } from "../sim/helpers.ts";
import { peer, skipNoBroker, startMosquitto, type Broker } from "../mqtt-xs/broker.ts";

const dir = mkdtempSync(join(tmpdir(), "xsiot-commands-mosq-"));
let broker: Broker;
let cloud: Cloud;
let clock: VirtualDevice | undefined;
before(async () => {
  if (skipNoBroker) return;
  broker = await startMosquitto();
  cloud = await startCloud({ dir, brokerUrl: `mqtt://127.0.0.1:${broker.port}`, httpPort: 0, log: silentLogger, writeStateFile: false, now: () => clock?.epochNow ?? Date.now() });
});
after(async () => {
  await cloud?.close();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("MQTT 5 on the virtual ESP32: a command sent while the node sleeps is queued by Mosquitto and runs once at the next wake; one late by the node's clock is refused", { skip: skipNoBroker }, async () => {
  const thing = "cmd-mosq-node";
  cloud.registry.create(thing);
  const commands = cloud.service<CommandsService>("commands")!;
  const app = buildApp(new URL("./apps/node", import.meta.url).pathname);
  const ids: Record<string, string> = {};
  let sleeps = 0;
  const { device, events } = makeDevice(app, {
    deviceConfig: { port: broker.port, thing, mqttVersion: 5, sleepS: 60 },
    onEvent(e) {
      if (e.type === "sleep" && ++sleeps === 1) {
        void commands.send({ thingName: thing, name: "blink", payload: { times: 2 }, ttl: "10m" }).then((x) => (ids.onTime = x.executionId));
        // 30 virtual s: the broker's expiry runs on real time, so it still holds it; the node refuses it by its own clock.
        void commands.send({ thingName: thing, name: "blink", payload: { times: 9 }, ttl: 30 }).then((x) => (ids.late = x.executionId));
      }
    },
  });
  clock = device;
  try {
    await device.run(200_000);
  } finally {
    device.shutdown();
    clock = undefined;
  }
  const logs = events.filter((e) => e.type === "log").map((e) => String(e.text).trimEnd());
  const all = logs.join("\n");
  assert.equal(logs.filter((l) => l.startsWith(`ran blink ${ids.onTime}`)).length, 1, all);
  assert.equal(commands.get(ids.onTime)!.status, "SUCCEEDED");
  assert.ok(logs.includes(`commands: ${ids.late} REJECTED EXPIRED`), all);
  assert.ok(!all.includes(`ran blink ${ids.late}`), all);
  assert.equal(commands.get(ids.late)!.status, "TIMED_OUT");
});

test("Mosquitto drops a command whose expiry passed while its thing was away; a later one still arrives", { skip: skipNoBroker }, async () => {
  const thing = "cmd-mosq-peer";
  cloud.registry.create(thing);
  const commands = cloud.service<CommandsService>("commands")!;
  const request = `$aws/commands/things/${thing}/executions/+/request/json`;
  // A persistent v5 session with the subscription, then away.
  let device = await peer(broker.port, { clientId: thing, clean: false, properties: { sessionExpiryInterval: 600 } });
  await device.subscribeAsync(request, { qos: 1 });
  await device.endAsync();

  const watcher = await peer(broker.port, { clientId: "cmd-mosq-watcher" });
  const timedOut = new Promise<void>((resolve) => watcher.on("message", (t) => t.endsWith("/TIMED_OUT") && resolve()));
  await watcher.subscribeAsync("$aws/events/commandExecution/ping/TIMED_OUT", { qos: 1 });
  // 3 s: the broker is given 1 s (a second less than is left, rounded down), and keeps it at most a second past that.
  const stale = await commands.send({ thingName: thing, name: "ping", ttl: 3 });
  await timedOut; // the cloud's deadline passed, so the broker's copy is gone
  const fresh = await commands.send({ thingName: thing, name: "ping", ttl: 60 });

  // Listening before CONNECT: queued messages can arrive in the same read as CONNACK.
  const got: IPublishPacket[] = [];
  device = mqtt.connect({ host: "127.0.0.1", port: broker.port, protocolVersion: 5, reconnectPeriod: 0, clientId: thing, clean: false, properties: { sessionExpiryInterval: 600 } });
  const freshArrived = new Promise<void>((resolve, reject) => {
    device.on("error", reject);
    device.on("message", (_t, _p, packet) => {
      got.push(packet);
      if (packet.topic.includes(fresh.executionId)) resolve();
    });
  });
  await freshArrived; // queued messages arrive in order: had the stale one been kept, it came first
  try {
    assert.deepEqual(got.map((p) => p.topic.split("/")[5]), [fresh.executionId]);
    assert.ok(!got.some((p) => p.topic.includes(stale.executionId)));
    const expiry = got[0].properties?.messageExpiryInterval;
    assert.ok(typeof expiry === "number" && expiry > 0 && expiry <= 60, `remaining expiry ${expiry}`);
    assert.equal(commands.get(stale.executionId)!.status, "TIMED_OUT");
  } finally {
    await device.endAsync();
    await watcher.endAsync();
  }
});
