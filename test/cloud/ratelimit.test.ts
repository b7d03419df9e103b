// The broker's per-connection publish rate (AWS IoT's quota: 100 a second; closed
// past twice that): a flooding connection is closed, on 3.1.1 and on MQTT 5
// (DISCONNECT 0x96, also when every publish is refused by the policy), while a
// wake's burst of publishes passes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { Cloud } from "../../tools/cloud/index.ts";
import { PUBLISH_RATE_LIMIT } from "../../tools/cloud/broker.ts";
import { Device, tempDir, testCloud } from "./helpers.ts";

const tmp = tempDir("xsiot-ratelimit-");
let cloud: Cloud;
before(async () => {
  cloud = await testCloud({ dir: tmp.dir, port: 0, tlsPort: 0, httpPort: 0 });
});
after(async () => {
  await cloud.close();
  tmp.cleanup();
});

test("a burst the size of a wake's batch passes and the connection stays", async () => {
  const d = await Device.connect(cloud.url, { clientId: "rl-burst" });
  try {
    await Promise.all(Array.from({ length: 2 * PUBLISH_RATE_LIMIT }, () => d.client.publishAsync("dt/rl-burst/telemetry", "{}", { qos: 1 })));
    assert.ok(d.client.connected);
  } finally {
    await d.end();
  }
});

test("3.1.1: a connection publishing far over the rate is closed", { timeout: 20_000 }, async () => {
  const d = await Device.connect(cloud.url, { clientId: "rl-flood4" });
  const closed = new Promise<void>((r) => d.client.once("close", () => r()));
  // QoS 0 as fast as the socket takes them: nothing waits for the broker.
  for (let i = 0; i < 50 * PUBLISH_RATE_LIMIT && d.client.connected; i++) d.client.publish("dt/rl-flood4/telemetry", "{}", { qos: 0 });
  await closed;
  await d.end();
});

test("MQTT 5: a connection flooding refused publishes gets DISCONNECT 0x96 (Message rate too high)", { timeout: 20_000 }, async () => {
  const c = await mqtt.connectAsync(cloud.url, { clientId: "rl-flood5", protocolVersion: 5, reconnectPeriod: 0 });
  const disconnect = new Promise<number | undefined>((r) => c.once("disconnect", (p) => r(p.reasonCode)));
  for (let i = 0; i < 50 * PUBLISH_RATE_LIMIT && c.connected; i++) c.publish("$aws/things/someone-else/shadow/update", "{}", { qos: 0 });
  assert.equal(await disconnect, 0x96);
  await c.endAsync(true);
});
