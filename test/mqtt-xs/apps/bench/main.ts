// Benchmark device (bench/mqtt.bench.ts): loads the MQTT client module, then
// waits for the host to drive it through device.evaluate("bench.…"), so each
// measured window holds only the work being measured.
import config from "mc/config";
import { MQTTClient } from "xsiot/mqtt/client";

const c = config as unknown as { port: number; version: 4 | 5 };
let client: MQTTClient | undefined;
let received = 0;
let acked = 0;
const payload64 = new Uint8Array(64).fill(0x42);

function start(): void {
  client = new MQTTClient({
    host: "127.0.0.1",
    port: c.port,
    clientId: `xs-bench-${c.version}`,
    version: c.version,
    keepAlive: 0,
    reconnect: false,
    onMessage() {
      received++;
    },
  });
  client.subscribe("bench/in", { qos: 0 }).then(() => trace("subscribed"));
}

function pub(n: number): void {
  const cl = client as MQTTClient;
  for (let i = 0; i < n; i++) cl.publish("bench/out", payload64, { qos: 1 }).then(() => acked++);
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
};
trace("ready");
