// MQTT test device: runs sdk/mqtt's MQTTClient on XS with the scenario given in
// mc/config (per device), and traces one JSON line per event for the host test.
// On a deep-sleep wake, config.wake overrides the settings (a second phase).
import config from "mc/config";
import Timer from "timer";
import { deepSleep, resetReason } from "xsiot/native/esp32";
import TLS from "embedded:io/socket/tcp/tls";
import { MQTTClient } from "xsiot/mqtt/client";
import { utf8Decode } from "xsiot/text/utf8";
import { KeyValueInflightStore } from "xsiot/mqtt/kvstore";
import type { QoS } from "xsiot/mqtt/types";

interface Pub {
  topic: string;
  payload: string;
  qos?: QoS;
  retain?: boolean;
  /** Publish this many, payload suffixed with the sequence number 0..count-1. */
  count?: number;
  /** Do not wait for its acknowledgement before finishing (flush still does). */
  noWait?: boolean;
}

interface Settings {
  host?: string;
  port: number;
  clientId: string;
  version?: 4 | 5;
  keepAlive?: number;
  clean?: boolean;
  expiry?: number;
  will?: { topic: string; payload: string; qos?: QoS; retain?: boolean };
  tls?: { ca: string; certificate?: string; key?: string };
  reconnect?: { minMs: number; maxMs: number; jitter: number } | false;
  limits?: Record<string, number>;
  /** "kv": KeyValueInflightStore (survives deep sleep); default in memory. */
  store?: "kv";
  subscribe?: { filter: string; qos: QoS }[];
  /** Sent at once (pipelined with CONNECT). */
  publish?: Pub[];
  /** Sent once the subscriptions are granted. */
  publishAfterSubscribe?: Pub[];
  /** Messages to receive before finishing. */
  expect?: number;
  /** Stay connected this long (virtual ms) before `final`, flush and close. */
  holdMs?: number;
  final?: Pub[];
  flushMs?: number;
  /** After close: wait this long awake, then deep sleep for sleepUs. */
  sleepDelayMs?: number;
  sleepUs?: number;
  wake?: Partial<Settings>;
}

function log(ev: string, fields: Record<string, unknown> = {}): void {
  trace(JSON.stringify({ ev, ...fields }));
}

const base = config as unknown as Settings;
const woke = resetReason() === "deep-sleep";
const s: Settings = woke && base.wake ? { ...base, ...base.wake } : base;
let received = 0;
let pending = 0;
let finishing = false;

const client = new MQTTClient({
  host: s.host || "127.0.0.1",
  port: s.port,
  clientId: s.clientId,
  version: s.version || 5,
  keepAlive: s.keepAlive ?? 60,
  session: { clean: s.clean ?? true, expiry: s.expiry },
  will: s.will,
  tls: s.tls,
  socket: s.tls ? TLS : undefined,
  reconnect: s.reconnect === undefined ? false : s.reconnect,
  limits: s.limits,
  store: s.store === "kv" ? new KeyValueInflightStore("mqtt") : undefined,
  onConnect(info) {
    log("connected", { sessionPresent: info.sessionPresent });
  },
  onClose(error) {
    log("closed", { error: error ? error.message : null });
  },
  onMessage(topic, payload) {
    received++;
    log("rx", { topic, payload: utf8Decode(new Uint8Array(payload), 0, payload.byteLength), n: received });
    check();
  },
});

function send(list: Pub[] | undefined): void {
  if (!list) return;
  for (const p of list) {
    const n = p.count ?? 1;
    for (let i = 0; i < n; i++) {
      const payload = p.count === undefined ? p.payload : p.payload + i;
      const counted = !p.noWait;
      if (counted) pending++;
      client.publish(p.topic, payload, { qos: p.qos || 0, retain: p.retain }).then(
        () => {
          if (counted) pending--;
          log("acked", { topic: p.topic, payload });
          check();
        },
        (e: Error) => {
          if (counted) pending--;
          log("pubfail", { topic: p.topic, payload, error: e.message });
          check();
        },
      );
    }
  }
}

function check(): void {
  if (finishing || received < (s.expect || 0) || pending > 0) return;
  finishing = true;
  if (s.holdMs) Timer.set(finish, s.holdMs);
  else finish();
}

function finish(): void {
  send(s.final);
  client.flush(s.flushMs ?? 10000).then(
    () => log("flushed"),
    (e: Error) => log("flushfail", { error: e.message }),
  ).then(() => {
    client.close();
    log("done");
    if (s.sleepUs) {
      if (s.sleepDelayMs) Timer.set(() => deepSleep({ us: s.sleepUs }), s.sleepDelayMs);
      else deepSleep({ us: s.sleepUs });
    }
  });
}

log("boot", { woke });
if (s.subscribe) {
  pending++;
  client.subscribe(s.subscribe.map((x) => x.filter), { qos: s.subscribe[0].qos }).then(
    (results) => {
      pending--;
      log("subscribed", { results });
      send(s.publishAfterSubscribe);
      check();
    },
    (e: Error) => {
      pending--;
      log("subfail", { error: e.message });
      check();
    },
  );
}
send(s.publish);
check();
