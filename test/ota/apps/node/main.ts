// OTA test node: MQTT + JobsAgent + OtaAgent, staying awake. Reports its
// version on every connect (dt/<thing>/status) so tests see which build runs.
// mc/config: thing, port, publicKey (base64 P-256 point), version (set by the
// build), selfTest ("pass" | "fail" | "hang" | "panic", baked into a build),
// blockSize, window, requestTimeoutMs, maxTries.
import config from "mc/config";
import { MQTTClient } from "xsiot/mqtt/client";
import { JobsAgent } from "xsiot/jobs/agent";
import { OtaAgent } from "xsiot/ota/agent";
import { base64Decode } from "xsiot/ota/base64";
import { ota } from "xsiot/native/esp32";

const c = config as unknown as {
  thing: string;
  port: number;
  publicKey: string;
  version: string;
  selfTest?: "pass" | "fail" | "hang" | "panic";
  blockSize?: number;
  window?: number;
  requestTimeoutMs?: number;
  maxTries?: number;
  progressEveryMs?: number;
};
const state = ota.state();
trace(`app ${c.version} on ${ota.running()} (${state})`);
if (state === "pending-verify" && c.selfTest === "panic") throw new Error(`build ${c.version} crashes on its first boot`);

const mqtt = new MQTTClient({
  host: "127.0.0.1",
  port: c.port,
  clientId: c.thing,
  version: 4,
  keepAlive: 60,
  session: { clean: true },
  reconnect: { minMs: 100, maxMs: 1000, jitter: 0.2 },
  limits: { maxPacketSize: 140 * 1024 },
  onConnect() {
    mqtt.publish(`dt/${c.thing}/status`, JSON.stringify({ version: c.version, partition: ota.running(), state: ota.state() }), { qos: 1 }).catch(() => {});
  },
  onClose(e) {
    if (e) trace(`mqtt closed: ${e.message}`);
  },
});

const key = base64Decode(c.publicKey, 65);
if (!key) throw new Error("config.publicKey is not base64");
const otaAgent = new OtaAgent({
  mqtt,
  thingName: c.thing,
  version: c.version,
  publicKey: key,
  blockSize: c.blockSize,
  window: c.window,
  requestTimeoutMs: c.requestTimeoutMs,
  maxTries: c.maxTries,
  progressEveryMs: c.progressEveryMs,
  selfTestTimeoutMs: 5000,
  selfTest:
    c.selfTest === "fail"
      ? () => Promise.reject(new Error("sensor bus check failed"))
      : c.selfTest === "hang"
        ? () => new Promise<void>(() => {})
        : undefined,
  log: (m) => trace(`ota: ${m}`),
});

const jobs = new JobsAgent(mqtt, { thingName: c.thing, timeoutMs: 5000, progressIntervalMs: c.progressEveryMs ?? 1000, log: (m) => trace(m) });
jobs.on("afr_ota", otaAgent.handler);
jobs.start().catch((e: Error) => trace(`jobs: ${e.message}`));
