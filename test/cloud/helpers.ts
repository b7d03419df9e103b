// Shared helpers for the local-cloud tests: a temp cloud and an MQTT.js "device".
import { after } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { startCloud, silentLogger, type Cloud, type CloudOptions } from "../../tools/cloud/index.ts";

export function tempDir(prefix = "xsiot-cloud-"): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function testCloud(opts: Partial<CloudOptions> & { dir: string }): Promise<Cloud> {
  return startCloud({ log: silentLogger, writeStateFile: false, ...opts });
}

/** An MQTT.js device that can wait for messages. */
export class Device {
  readonly messages: { topic: string; payload: string }[] = [];
  private waiters: { filter: (t: string) => boolean; resolve: (m: { topic: string; json: any }) => void }[] = [];
  constructor(readonly client: mqtt.MqttClient) {
    client.on("message", (topic, payload) => {
      const m = { topic, payload: payload.toString() };
      this.messages.push(m);
      const i = this.waiters.findIndex((w) => w.filter(topic));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve({ topic, json: m.payload ? JSON.parse(m.payload) : undefined });
    });
  }
  static async connect(url: string, opts: mqtt.IClientOptions): Promise<Device> {
    return new Device(await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts }));
  }
  /** Next message whose topic matches (exact string or predicate), taking one already received if any. */
  next(topic: string | ((t: string) => boolean), timeoutMs = 3000): Promise<{ topic: string; json: any }> {
    const filter = typeof topic === "string" ? (t: string) => t === topic : topic;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${typeof topic === "string" ? topic : "a message"}`)), timeoutMs);
      this.waiters.push({ filter, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }
  /** Publishes a request and returns the /accepted or /rejected answer. */
  async request(topic: string, payload: unknown): Promise<{ topic: string; json: any }> {
    const answer = this.next((t) => t === `${topic}/accepted` || t === `${topic}/rejected`);
    await this.client.publishAsync(topic, typeof payload === "string" ? payload : JSON.stringify(payload), { qos: 1 });
    return answer;
  }
  /** A round trip on this connection (SUBSCRIBE -> SUBACK, granted or refused). Anything the
   * broker sent to this connection before it handled the SUBSCRIBE has arrived when this
   * resolves (one TCP stream keeps order): "nothing arrived" checks wait on this, not a delay. */
  async roundTrip(filter = "$xsiot/barrier"): Promise<void> {
    await this.client.subscribeAsync(filter, { qos: 0 }).catch(() => undefined);
  }
  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A cloud whose clock is a virtual ESP32's while `follow` points at one (deadlines and rate windows then pass
 * in virtual time): started by the first `start()`, closed after the test file's tests. */
export function cloudOnDeviceClock(prefix: string): { start(): Promise<Cloud>; follow(device: { epochNow: number } | undefined): void } {
  const tmp = tempDir(prefix);
  let started: Promise<Cloud> | undefined;
  let clock: { epochNow: number } | undefined;
  after(async () => {
    await (await started)?.close();
    tmp.cleanup();
  });
  return {
    start: () => (started ??= testCloud({ dir: tmp.dir, port: 0, tlsPort: 0, httpPort: 0, now: () => clock?.epochNow ?? Date.now() })),
    follow: (d) => (clock = d),
  };
}
