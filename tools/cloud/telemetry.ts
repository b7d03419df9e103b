// Telemetry service: what the cloud keeps of each thing's readings, and the
// cloud's view of them — one row per (thing, sequence number), so resent copies
// (QoS 1 allows them) are counted and dropped; the loss counters each message
// carries (lost, evicted, corrupted: sdk/sleep/scheduler.ts) tell the sequence
// gaps the device declared from the ones it did not.
//
// Durable before acknowledged: with the embedded broker, a telemetry PUBLISH is
// written to SQLite inside the broker's authorisation step, which aedes runs
// before it sends the PUBACK (node_modules/aedes/lib/handlers/publish.js: QoS 1
// writes the PUBACK, then publishes). So a reading the device saw acknowledged
// is in cloud.db even if the cloud process is killed right after. With an
// external broker the service can only subscribe (the broker acknowledges).
//
// PUBLISHes and SUBSCRIBEs the policy refused are counted per client from the
// broker's audit stream (audit.ts; MQTT 3.1.1 and 5 alike): a flood of forbidden
// publishes is visible (GET /telemetry/refused).
//
// HTTP: GET /things/T/telemetry -> the view (counts, gaps declared or not);
//       GET /things/T/telemetry/readings?from=S&limit=N -> deduplicated readings;
//       GET /telemetry/refused -> refused publishes and subscriptions by client.
import type { Aedes, Client, PublishPacket } from "aedes";
import { brokerAudit, type AuditEvent } from "./audit.ts";
import { decode as cborDecode } from "cbor-x";
import type { CloudContext, CloudService, HttpRequest, HttpResult } from "./service.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS telemetry (thing TEXT NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL, v REAL, mv INTEGER NOT NULL,
  flags INTEGER NOT NULL, declared INTEGER NOT NULL, copies INTEGER NOT NULL, conflicts INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (thing, seq));
CREATE TABLE IF NOT EXISTS telemetry_things (thing TEXT PRIMARY KEY, messages INTEGER NOT NULL, garbled INTEGER NOT NULL,
  lost INTEGER NOT NULL, evicted INTEGER NOT NULL, corrupted INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS policy_refusals (client TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL, last_topic TEXT NOT NULL,
  PRIMARY KEY (client, kind));
`;

const TOPIC = /^dt\/([^/]{1,128})\/telemetry(\/cbor)?$/;
const MAX_ROWS = 2000;

export interface TelemetryGap {
  /** First and last missing sequence number. */
  from: number;
  to: number;
  /** The device's counters, as of the first reading after the gap, cover every number missing up to it. */
  declared: boolean;
}

export interface TelemetryView {
  thing: string;
  messages: number;
  /** Distinct readings kept. */
  readings: number;
  /** Copies received beyond the first (dropped). */
  duplicates: number;
  /** Copies whose content differed from the first (a sequence number reused: a device bug). */
  conflicts: number;
  /** Payloads that were not a telemetry message. */
  garbled: number;
  firstSeq: number;
  maxSeq: number;
  /** Numbers in [1, maxSeq] never received. */
  missing: number;
  /** The device's latest counters: numbers it says will never come. */
  declared: { lost: number; evicted: number; corrupted: number; total: number };
  /** missing - declared.total, when positive: gaps nobody declared. */
  undeclared: number;
  gaps: TelemetryGap[];
}

interface Row {
  seq: number;
  t: number;
  v: number | null;
  mv: number;
  flags: number;
}

/** Parses a telemetry payload (JSON or CBOR), bounded; undefined when it is not one. */
export function parseTelemetry(payload: Buffer, cbor: boolean): { rows: Row[]; lost: number; evicted: number; corrupted: number } | undefined {
  if (payload.length > 128 * 1024) return undefined;
  let doc: unknown;
  try {
    doc = cbor ? cborDecode(payload) : JSON.parse(payload.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof doc !== "object" || doc === null) return undefined;
  const o = doc as Record<string, unknown>;
  if (!Array.isArray(o.r) || o.r.length > MAX_ROWS) return undefined;
  const count = (k: string) => (Number.isSafeInteger(o[k]) && (o[k] as number) >= 0 ? (o[k] as number) : 0);
  const rows: Row[] = [];
  for (const r of o.r) {
    if (!Array.isArray(r) || r.length < 5) return undefined;
    const [seq, t, v, mv, flags] = r as unknown[];
    if (!Number.isSafeInteger(seq) || (seq as number) < 1 || !Number.isSafeInteger(t) || !Number.isSafeInteger(mv) || !Number.isSafeInteger(flags)) return undefined;
    if (v !== null && typeof v !== "number") return undefined;
    rows.push({ seq: seq as number, t: t as number, v: v as number | null, mv: mv as number, flags: flags as number });
  }
  return { rows, lost: count("lost"), evicted: count("evicted"), corrupted: count("corrupted") };
}

export interface TelemetryService extends CloudService {
  view(thing: string): TelemetryView;
  refused(): { client: string; kind: string; count: number; lastTopic: string }[];
  /** Whether writes happen before the PUBACK (embedded broker) or after (external broker). */
  readonly durableBeforeAck: boolean;
}

export function telemetryService(ctx: CloudContext): TelemetryService {
  const db = ctx.store.db;
  db.exec(SCHEMA);
  const upsertRow = db.prepare(
    `INSERT INTO telemetry (thing, seq, t, v, mv, flags, declared, copies) VALUES (?, ?, ?, ?, ?, ?, ?, 1)
     ON CONFLICT(thing, seq) DO UPDATE SET copies = copies + 1, declared = MAX(declared, excluded.declared),
       conflicts = conflicts + (t != excluded.t OR flags != excluded.flags OR mv != excluded.mv OR IFNULL(v, -1e300) != IFNULL(excluded.v, -1e300))`,
  );
  const upsertThing = db.prepare(
    `INSERT INTO telemetry_things (thing, messages, garbled, lost, evicted, corrupted) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT(thing) DO UPDATE SET messages = messages + excluded.messages, garbled = garbled + excluded.garbled,
       lost = MAX(lost, excluded.lost), evicted = MAX(evicted, excluded.evicted), corrupted = MAX(corrupted, excluded.corrupted)`,
  );
  const refuse = db.prepare(
    `INSERT INTO policy_refusals (client, kind, count, last_topic) VALUES (?, ?, ?, ?)
     ON CONFLICT(client, kind) DO UPDATE SET count = count + excluded.count, last_topic = excluded.last_topic`,
  );
  const record = db.transaction((thing: string, payload: Buffer, cbor: boolean) => {
    const msg = parseTelemetry(payload, cbor);
    if (!msg) {
      upsertThing.run(thing, 1, 1, 0, 0, 0);
      return;
    }
    const declared = msg.lost + msg.evicted + msg.corrupted;
    for (const r of msg.rows) upsertRow.run(thing, r.seq, r.t, r.v, r.mv, r.flags, declared);
    upsertThing.run(thing, 1, 0, msg.lost, msg.evicted, msg.corrupted);
  });
  const onTelemetry = (topic: string, payload: Buffer) => {
    const m = TOPIC.exec(topic);
    if (!m) return;
    try {
      record(m[1], payload, m[2] !== undefined);
    } catch (e) {
      ctx.log.error(`telemetry: storing ${topic} failed: ${(e as Error).message}`);
    }
  };

  const pendingRefusals = new Map<string, { count: number; topic: string }>();
  const flushRefusals = () => {
    if (!pendingRefusals.size) return;
    const batch = [...pendingRefusals];
    pendingRefusals.clear();
    try {
      db.transaction(() => {
        for (const [key, v] of batch) {
          const [kind, client] = key.split("\n");
          refuse.run(client, kind, v.count, v.topic.slice(0, 256));
        }
      })();
    } catch (e) {
      ctx.log.error(`telemetry: storing refusal counts failed: ${(e as Error).message}`);
    }
  };
  const aedes = ctx.bus.kind === "embedded" ? (ctx.bus as unknown as { broker?: Aedes }).broker : undefined;
  let restore: (() => void) | undefined;
  let unsubscribe: (() => Promise<void>) | undefined;

  const service: TelemetryService = {
    name: "telemetry",
    durableBeforeAck: aedes !== undefined,
    async start() {
      if (aedes) {
        const authorizePublish = aedes.authorizePublish;
        aedes.authorizePublish = function (this: Aedes, client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void) {
          authorizePublish.call(this, client, packet, (err?: Error | null) => {
            if (client && !err) onTelemetry(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
            done(err);
          });
        } as Aedes["authorizePublish"];
        const audit = brokerAudit(ctx.registry);
        // Counted in memory, written once a second: a flood of refused publishes must cost the
        // broker a map update each, not a database write each (it starved the victim's own requests).
        const onAudit = (e: AuditEvent) => {
          if (e.kind !== "publish-refused" && e.kind !== "subscribe-refused") return;
          const key = `${e.kind === "publish-refused" ? "publish" : "subscribe"}\n${e.clientId}`;
          const p = pendingRefusals.get(key);
          if (p) {
            p.count++;
            p.topic = e.topic;
          } else if (pendingRefusals.size < 10_000) pendingRefusals.set(key, { count: 1, topic: e.topic });
        };
        audit.on("event", onAudit);
        const flusher = setInterval(flushRefusals, 1000);
        flusher.unref();
        restore = () => {
          aedes.authorizePublish = authorizePublish;
          audit.off("event", onAudit);
          clearInterval(flusher);
        };
      } else {
        const off1 = await ctx.bus.subscribe("dt/+/telemetry", (m) => onTelemetry(m.topic, m.payload));
        const off2 = await ctx.bus.subscribe("dt/+/telemetry/cbor", (m) => onTelemetry(m.topic, m.payload));
        unsubscribe = async () => {
          await off1();
          await off2();
        };
      }
    },
    async stop() {
      restore?.();
      flushRefusals();
      await unsubscribe?.();
    },
    view(thing: string): TelemetryView {
      const t = db.prepare("SELECT messages, garbled, lost, evicted, corrupted FROM telemetry_things WHERE thing = ?").get(thing) as
        | { messages: number; garbled: number; lost: number; evicted: number; corrupted: number }
        | undefined;
      const rows = db.prepare("SELECT seq, declared, copies, conflicts FROM telemetry WHERE thing = ? ORDER BY seq").all(thing) as {
        seq: number;
        declared: number;
        copies: number;
        conflicts: number;
      }[];
      const gaps: TelemetryGap[] = [];
      let expected = 1;
      let missing = 0;
      let duplicates = 0;
      let conflicts = 0;
      for (const r of rows) {
        duplicates += r.copies - 1;
        conflicts += r.conflicts;
        if (r.seq > expected) {
          missing += r.seq - expected;
          gaps.push({ from: expected, to: r.seq - 1, declared: missing <= r.declared });
        }
        expected = r.seq + 1;
      }
      const declared = { lost: t?.lost ?? 0, evicted: t?.evicted ?? 0, corrupted: t?.corrupted ?? 0, total: 0 };
      declared.total = declared.lost + declared.evicted + declared.corrupted;
      return {
        thing,
        messages: t?.messages ?? 0,
        readings: rows.length,
        duplicates,
        conflicts,
        garbled: t?.garbled ?? 0,
        firstSeq: rows.length ? rows[0].seq : 0,
        maxSeq: rows.length ? rows[rows.length - 1].seq : 0,
        missing,
        declared,
        undeclared: Math.max(0, missing - declared.total),
        gaps,
      };
    },
    refused() {
      flushRefusals();
      return (db.prepare("SELECT client, kind, count, last_topic AS lastTopic FROM policy_refusals ORDER BY client, kind").all() as {
        client: string;
        kind: string;
        count: number;
        lastTopic: string;
      }[]);
    },
    http(req: HttpRequest): HttpResult | undefined {
      if (req.method !== "GET") return undefined;
      const p = req.path;
      if (p.length === 2 && p[0] === "telemetry" && p[1] === "refused") return { status: 200, body: { refused: service.refused() } };
      if (p.length === 3 && p[0] === "things" && p[2] === "telemetry") return { status: 200, body: service.view(p[1]) };
      if (p.length === 4 && p[0] === "things" && p[2] === "telemetry" && p[3] === "readings") {
        const from = Math.max(0, Number(req.query.get("from") ?? 0) || 0);
        const limit = Math.min(MAX_ROWS, Math.max(1, Number(req.query.get("limit") ?? 500) || 500));
        const readings = db.prepare("SELECT seq, t, v, mv, flags, copies FROM telemetry WHERE thing = ? AND seq >= ? ORDER BY seq LIMIT ?").all(p[1], from, limit);
        return { status: 200, body: { thing: p[1], readings } };
      }
      return undefined;
    },
  };
  return service;
}
