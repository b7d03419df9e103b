// Benchmark device (bench/mqtt.bench.ts): loads the MQTT client modules, then
// waits for the host to drive it through device.evaluate("bench.…"), so each
// measured window holds only the work being measured. MQTT 3.1.1 runs the
// 3.1.1 client (client311, what a 3.1.1 app loads), MQTT 5 the full client.
// Publishes take a callback (no Promise per publish), as Moddable's client
// reports PUBACK through onControl.
import config from "mc/config";
import { MQTTClient } from "xsiot/mqtt/client";
import { MQTTClient as MQTTClient311 } from "xsiot/mqtt/client311";

const c = config as unknown as { port: number; version: 4 | 5 };
let client: MQTTClient311 | undefined;
let received = 0;
let acked = 0;
let subscribed = false;
const payload64 = new Uint8Array(64).fill(0x42);

function start(): void {
  const options = {
    host: "127.0.0.1",
    port: c.port,
    clientId: `xs-bench-${c.version}`,
    version: c.version,
    keepAlive: 0,
    reconnect: false as const,
    onMessage() {
      received++;
    },
  };
  client = c.version === 4 ? new MQTTClient311(options) : new MQTTClient(options);
  client.subscribe("bench/in", { qos: 0 }).then(() => {
    subscribed = true;
    trace("subscribed");
  });
}

function onAck(error: Error | undefined): void {
  if (!error) acked++;
}

function pub(n: number): void {
  const cl = client as MQTTClient311;
  const options = { qos: 1 as const };
  for (let i = 0; i < n; i++) cl.publish("bench/out", payload64, options, onAck);
}

(globalThis as unknown as { bench: unknown }).bench = {
  start,
  pub,
  get received() {
    return received;
  },
  get acked() {
    return acked;
  },
  get subscribed() {
    return subscribed;
  },
};
trace("ready");
