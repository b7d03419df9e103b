// Defender e2e app: a node that wakes every sleepS, publishes `messages` telemetry
// messages of `bytes` each (a well-behaved node sends one; told to misbehave, a
// hundred), and sends a Device Defender report with its uplink every periodS.
import config from "mc/config";
import { MQTTClient } from "xsiot/mqtt/client";
import { DefenderMetrics, type NetworkCounters } from "xsiot/defender/report";
import { deepSleep } from "xsiot/native/esp32";

const c = config as unknown as { port: number; thing: string; sleepS: number; messages: number; bytes: number; periodS: number };
const client = new MQTTClient({ host: "127.0.0.1", port: c.port, clientId: c.thing, version: 4, keepAlive: 60, session: { clean: true }, reconnect: false });
const defender = new DefenderMetrics({ thingName: c.thing, periodS: c.periodS });
const counters = (client as unknown as { counters: NetworkCounters }).counters;

async function main(): Promise<void> {
  const payload = new Uint8Array(c.bytes);
  // In windows of 32: the client queues at most 64 operations.
  for (let i = 0; i < c.messages; i += 32) {
    const sent: Promise<void>[] = [];
    for (let j = i; j < Math.min(c.messages, i + 32); j++) sent.push(client.publish(`dt/${c.thing}/telemetry`, payload, { qos: 1 }));
    await Promise.all(sent);
  }
  if (await defender.report(client, counters, `127.0.0.1:${c.port}`)) trace("defender: reported");
  await client.flush(5000);
  defender.settle(counters);
}

main().then(
  () => {
    client.close();
    deepSleep({ us: c.sleepS * 1_000_000 });
  },
  (e: Error) => {
    trace(`error: ${e.message}`);
    client.close();
    deepSleep({ us: c.sleepS * 1_000_000 });
  },
);
