// One uplink: connect (persistent session), publish the batch pipelined (before
// CONNACK), QoS 1, run the app's session hook (shadow, jobs), wait for every
// acknowledgement within the radio budget, close. Reports what was acknowledged:
// the caller drops exactly that from the flash queue, so nothing unacknowledged
// is ever lost and a retry resends with the same sequence numbers.
import { deviceTimers } from "../timer/timers";
import { MQTTClient } from "../mqtt/client";
import type { MqttConnection } from "../mqtt/types";
import { RECORD_SIZE, decodeReading, FLAG_ALARM, telemetryCbor, telemetryPayload, type Reading } from "./record";

export interface MqttTarget {
  host: string;
  port?: number;
  tls?: { ca?: string; certificate?: string; key?: string; serverName?: string; alpn?: string };
  /** With tls: the socket class from "embedded:io/socket/tcp/tls" (the MQTT client does not import it). */
  socket?: unknown;
  version?: 4 | 5;
}

/** What the app's session hook gets: the live connection and ways to hand results back. */
export interface UplinkContext {
  readonly client: MqttConnection;
  readonly thing: string;
  /** A new scheduler config (e.g. the shadow's desired.config). Validated; bad keys are refused and traced. */
  setConfig(config: unknown): void;
  /** Server time, epoch ms (e.g. shadow document "timestamp" x 1000). Corrects the clock. */
  setServerTime(epochMs: number): void;
  /** The app still has cloud work (a job in progress): uplink again at the next wake. */
  setPendingJob(pending: boolean): void;
  /** ms left in the radio budget. */
  remainingMs(): number;
}

export interface UplinkRequest {
  thing: string;
  mqtt: MqttTarget;
  /** Concatenated 16-byte readings, oldest first. */
  readings: Uint8Array;
  perMessage: number;
  budgetMs: number;
  /** Extra fields in every telemetry message (counters: evicted, lost...). */
  meta?: Record<string, number>;
  topic?: string;
  /** Telemetry encoding: "json" (default) on dt/<thing>/telemetry, "cbor" on dt/<thing>/telemetry/cbor. */
  format?: "json" | "cbor";
  onSession?(ctx: UplinkContext): Promise<void> | void;
  now?(): number;
}

export interface UplinkResult {
  ok: boolean;
  /** Highest sequence number acknowledged in order from the oldest (0: none). */
  ackedThrough: number;
  acked: number;
  config?: unknown;
  serverTimeMs?: number;
  serverSeenAt?: number;
  pendingJob?: boolean;
  error?: string;
  radioMs: number;
}

export function uplink(req: UplinkRequest): Promise<UplinkResult> {
  const now = req.now ?? (() => Date.now());
  const started = now();
  const count = Math.floor(req.readings.length / RECORD_SIZE);
  const messages: Reading[][] = [];
  for (let i = 0; i < count; i += req.perMessage) {
    const group: Reading[] = [];
    for (let j = i; j < Math.min(count, i + req.perMessage); j++) group.push(decodeReading(req.readings, j * RECORD_SIZE));
    messages.push(group);
  }
  const result: UplinkResult = { ok: false, ackedThrough: 0, acked: 0, radioMs: 0 };
  const ackedMsg: boolean[] = messages.map(() => false);
  let done = false;
  let hookDone = !req.onSession;
  let settle: (r: UplinkResult) => void = () => {};
  const promise = new Promise<UplinkResult>((resolve) => (settle = resolve));
  let timer: unknown;

  const advance = () => {
    for (let i = 0; i < messages.length && ackedMsg[i]; i++) {
      const last = messages[i][messages[i].length - 1];
      if (last.seq > result.ackedThrough) {
        result.ackedThrough = last.seq;
        result.acked += messages[i].length;
      }
    }
  };
  const finish = (ok: boolean, error?: string) => {
    if (done) return;
    done = true;
    if (timer !== undefined) deviceTimers.clearTimeout(timer);
    advance();
    result.ok = ok;
    if (error) result.error = error;
    try {
      client.close();
    } catch {
      // already closed
    }
    result.radioMs = now() - started;
    settle(result);
  };
  const check = () => {
    if (!done && hookDone && ackedMsg.every(Boolean)) finish(true);
  };

  let sessionStarted = false;
  const startSession = () => {
    if (!req.onSession || sessionStarted) return;
    sessionStarted = true;
    const ctx: UplinkContext = {
      client,
      thing: req.thing,
      setConfig(config: unknown) {
        result.config = config;
      },
      setServerTime(epochMs: number) {
        result.serverTimeMs = epochMs;
        result.serverSeenAt = now();
      },
      setPendingJob(pending: boolean) {
        result.pendingJob = pending;
      },
      remainingMs() {
        return Math.max(0, req.budgetMs - (now() - started));
      },
    };
    let p: Promise<void> | void;
    try {
      p = req.onSession!(ctx);
    } catch (e) {
      trace(`uplink: session hook threw: ${e}\n`);
      p = undefined;
    }
    Promise.resolve(p).then(
      () => {
        hookDone = true;
        check();
      },
      (e: unknown) => {
        trace(`uplink: session hook failed: ${e}\n`);
        hookDone = true; // the hook's failure does not fail the telemetry
        check();
      },
    );
  };

  const client = new MQTTClient({
    host: req.mqtt.host,
    port: req.mqtt.port,
    tls: req.mqtt.tls,
    socket: req.mqtt.socket,
    version: req.mqtt.version ?? 4,
    clientId: req.thing,
    keepAlive: 60,
    session: { clean: false, expiry: 30 * 86400 },
    reconnect: false,
    connectTimeoutMs: Math.min(10000, req.budgetMs),
    // The session hook (subscriptions, shadow, jobs) starts at CONNACK: some brokers answer
    // a pipelined SUBSCRIBE before their CONNACK, which the client rightly refuses.
    onConnect() {
      startSession();
    },
    onClose(error) {
      if (!done) finish(false, error ? error.message : "connection closed");
    },
  });
  timer = deviceTimers.setTimeout(() => finish(false, `radio budget of ${req.budgetMs} ms spent`), req.budgetMs);

  const cbor = req.format === "cbor";
  const topic = req.topic ?? `dt/${req.thing}/telemetry${cbor ? "/cbor" : ""}`;
  messages.forEach((group, i) => {
    client.publish(topic, cbor ? telemetryCbor(group, req.meta) : telemetryPayload(group, req.meta), { qos: 1 }).then(
      () => {
        ackedMsg[i] = true;
        check();
      },
      (e: Error) => finish(false, e.message),
    );
  });
  const alarm = messages.some((g) => g.some((r) => r.flags & FLAG_ALARM));
  if (alarm)
    client.publish(`dt/${req.thing}/alarm`, `{"alarm":"low-battery","mV":${messages[messages.length - 1].slice(-1)[0].batteryMv}}`, { qos: 1 }).then(undefined, () => {});

  check();
  return promise;
}
