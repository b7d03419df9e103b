// Shadow e2e app: the reporting interval is the desired-state key "interval".
// Each wake: connect, (optionally try another thing's shadow), sync the shadow
// (get -> apply desired -> report), stay awake awakeMs for live deltas, sleep
// `interval` seconds. The interval lives in key-value storage across sleeps.
import config from "mc/config";
import KeyValue from "embedded:storage/key-value";
import { MQTTClient } from "xsiot/mqtt/client";
import { ShadowClient } from "xsiot/shadow/client";
import { deepSleep } from "xsiot/native/esp32";

const c = config as unknown as { port: number; thing: string; mqttVersion?: 4 | 5; awakeMs?: number; foreign?: string };
const kv = KeyValue.open({ path: "app", format: "string" });
const stored = Number(kv.read("interval"));
let interval = Number.isInteger(stored) && stored > 0 ? stored : 60;
trace(`boot interval=${interval}`);

function sleep(): void {
  trace(`sleeping ${interval}s`);
  deepSleep({ us: interval * 1_000_000 });
}

const client = new MQTTClient({
  host: "127.0.0.1",
  port: c.port,
  clientId: c.thing,
  version: c.mqttVersion ?? 5,
  keepAlive: 60,
  session: { clean: true },
  reconnect: false,
  onClose(e) {
    if (e) trace(`mqtt closed: ${e.message}`);
  },
});

const shadow = new ShadowClient(client, { thingName: c.thing, timeoutMs: 5000 });
shadow.onDelta("interval", (v) => {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 5 || v > 86400) throw new TypeError(`interval must be an integer 5..86400, got ${JSON.stringify(v)}`);
  interval = v;
  kv.write("interval", String(v));
  trace(`interval applied ${v}`);
  return v;
});

async function main(): Promise<void> {
  if (c.foreign) {
    const other = new ShadowClient(client, { thingName: c.foreign, timeoutMs: 5000, log: () => {} });
    try {
      await other.start();
      trace(`foreign shadow read: ${JSON.stringify(other.reported)}`);
    } catch (e) {
      trace(`foreign shadow error: ${(e as Error).message}`);
    }
    other.close();
  }
  const doc = await shadow.start();
  trace(`synced version=${shadow.version} exists=${doc !== undefined}`);
  if (shadow.reported.interval !== interval) await shadow.report({ interval });
  const awake = c.awakeMs ?? 0;
  if (awake > 0) await new Promise<void>((r) => System.setTimeout(() => r(), awake));
  await client.flush(5000);
  trace(`done version=${shadow.version}`);
}

main().then(
  () => {
    client.close();
    sleep();
  },
  (e: Error) => {
    trace(`error: ${e.message}`);
    client.close();
    sleep();
  },
);
