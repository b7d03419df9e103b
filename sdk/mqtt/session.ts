import { MqttProtocolError } from "./error";
import { Utf8Error, utf8Decode, utf8Length, utf8Write } from "../text/utf8";
import { isValidFilter } from "./topic";
import type { InflightStore } from "./store";
import type { Properties } from "./properties";
import type { QoS } from "./types";

// Sans-I/O MQTT client session, MQTT 3.1.1 in full (QoS 0/1/2 both ways,
// persistent sessions, resend with DUP, keep-alive, flow control, pipelining
// before CONNACK). MQTT 5 is an extension (./v5) handed in by the client that
// wants it, so an app on 3.1.1 never loads the property codec.
//
// Events in (open, receive, tick, publish, subscribe, unsubscribe, disconnect,
// lost, abort) with `now` in ms; effects out through the SessionEvents the
// driver gave: bytes to send, the next timer, connected, messages, request
// outcomes, close. No sockets, no clocks, no allocation per message beyond the
// packet itself (no action objects, no Promise).
//
// Packets are read straight out of the received chunk when whole (a PUBACK
// costs no copy); only a packet split across chunks is reassembled, into one
// buffer of its announced size (bounded by maxPacketSize).

export interface SessionLimits {
  /** Most bytes in one packet, fixed header included (sent as Maximum Packet Size on MQTT 5). */
  maxPacketSize: number;
  /** Most UTF-8 bytes in a topic name or topic filter. */
  maxTopicLength: number;
  /** Most properties in one MQTT 5 property block. */
  maxProperties: number;
  /** Most of our QoS 1/2 PUBLISH packets unacknowledged at once (also capped by the server's Receive Maximum). */
  maxInflight: number;
  /** Most QoS 1/2 PUBLISH sent before CONNACK tells the server's Receive Maximum. */
  maxPipelined: number;
  /** Most operations held (in flight + queued + pending subscribes); beyond it requests are rejected. */
  maxQueued: number;
  /** Most inbound QoS 2 messages awaiting PUBREL (sent as Receive Maximum on MQTT 5). */
  receiveMaximum: number;
  /** Most topic aliases each way on MQTT 5: inbound (sent as Topic Alias Maximum) and outbound (also capped by the server's). */
  topicAliasMaximum: number;
}

export const DEFAULT_SESSION_LIMITS: Readonly<SessionLimits> = Object.freeze({
  maxPacketSize: 65536,
  maxTopicLength: 256,
  maxProperties: 32,
  maxInflight: 16,
  maxPipelined: 8,
  maxQueued: 64,
  // Above Mosquitto's default in-flight window (20), which 3.1.1 brokers use without asking us.
  receiveMaximum: 32,
  topicAliasMaximum: 16,
});

export interface WillOptions {
  topic: string;
  payload: Uint8Array;
  qos?: QoS;
  retain?: boolean;
  properties?: Properties;
  /** MQTT 5 Will Delay Interval, seconds. */
  delay?: number;
}

export interface SessionOptions {
  version: 4 | 5;
  clientId: string;
  /** Seconds; 0 disables keep-alive. */
  keepAlive: number;
  /** Clean session (3.1.1) / Clean Start (5). */
  clean: boolean;
  /** MQTT 5 Session Expiry Interval in seconds; defaults to 0 for clean sessions, 7 days otherwise. */
  expiry?: number;
  username?: string;
  password?: Uint8Array;
  will?: WillOptions;
  /** More MQTT 5 CONNECT properties (user properties, request problem information, ...). */
  connectProperties?: Properties;
  /** Where unacknowledged QoS 1/2 PUBLISH packets are kept across reboots; none: only in memory. */
  store?: InflightStore;
  limits?: Partial<SessionLimits>;
  /** Use MQTT 5 topic aliases on outgoing PUBLISH when the server allows them (default true). */
  topicAliases?: boolean;
  /** Close when CONNACK has not arrived this long after open (default 10000). */
  connectTimeoutMs?: number;
  /** Close when PINGRESP has not arrived this long after PINGREQ (default min(10000, keepAlive)). */
  pingTimeoutMs?: number;
}

/** What the server granted in CONNACK. */
export interface ConnectInfo {
  sessionPresent: boolean;
  clientId: string;
  keepAlive: number;
  receiveMaximum: number;
  maximumPacketSize: number;
  topicAliasMaximum: number;
  maximumQoS: QoS;
  retainAvailable: boolean;
  properties?: Properties;
}

export type SubscribeOutcome = { filter: string; granted: QoS } | { filter: string; reasonCode: number };

export interface Subscription {
  filter: string;
  qos: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
}

/** Where the session's effects go. `op` is whatever the caller passed with a request. */
export interface SessionEvents {
  send(bytes: Uint8Array): void;
  /** Call tick() at `at` (ms); -1: no timer needed. Replaces the previous timer. */
  timer(at: number): void;
  /** CONNACK accepted. */
  up(info: ConnectInfo): void;
  message(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, dup: boolean, properties: Properties | undefined): void;
  /** A request finished: value is SubscribeOutcome[] for subscribe, reason codes for unsubscribe. */
  done(op: unknown, error: MqttProtocolError | null, value?: SubscribeOutcome[] | number[]): void;
  /** The driver must close the transport. null after disconnect(). */
  down(error: MqttProtocolError | null): void;
}

/** MQTT 5, as ./v5 implements it; the session calls it only on version 5. */
export interface V5 {
  /** An encoded property block (length included) for packet type `type` (0: Will). */
  write(props: Properties | undefined, type: number): Uint8Array;
  /** Reads a property block at s.at (moving it); undefined when empty. */
  read(s: Session, b: Uint8Array, end: number, type: number): Properties | undefined;
  /** CONNECT properties from the options and limits. */
  connectProps(s: Session): Properties;
  /** Applies CONNACK properties to what the server granted. */
  connack(s: Session, props: Properties, info: ConnectInfo): void;
  /** Resolves an inbound topic alias; returns the topic. */
  aliasIn(s: Session, topic: string, props: Properties | undefined): string;
  /** The outbound topic alias for `topic` on this connection: n > 0 set (send an empty topic), -n newly set (send both), 0 none. */
  alias(s: Session, topic: string): number;
  /** "Not authorized (0x87)" */
  reason(code: number): string;
}

/** Counters for monitoring (Device Defender's network_stats): plain integers, cumulative. */
export interface MqttCounters {
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  connectAttempts: number;
  connections: number;
}

/** Our PUBLISH: encoded at each send, so an MQTT 5 topic alias costs no rewrite. */
interface Message {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** The MQTT 5 property block (./v5 write); null on 3.1.1. */
  pb: Uint8Array | null;
  op: unknown;
}

interface Outgoing extends Message {
  id: number;
  /** 0: not sent yet, 1: PUBLISH sent, 2: PUBREC received, PUBREL sent. */
  st: 0 | 1 | 2;
  /** The PUBLISH as kept in the store (sent as is, no alias); null: encoded from the message. */
  pkt: Uint8Array | null;
}

interface Pending {
  type: number;
  pkt: Uint8Array;
  filters: string[];
  op: unknown;
}

// const enums: tsc writes the numbers in place (a module-level const costs XS ~20 B of
// bytecode and a closure access at each use).
const enum St { IDLE = 0, CONNECTING = 1, CONNECTED = 2 }
const enum T { CONNACK = 2, PUBLISH = 3, PUBACK = 4, PUBREC = 5, PUBREL = 6, PUBCOMP = 7, SUBSCRIBE = 8, SUBACK = 9,
  UNSUBSCRIBE = 10, UNSUBACK = 11, PINGRESP = 13, DISCONNECT = 14 }
// Tables as one string split at load: an array literal costs bytecode per element.
const NAMES = "reserved CONNECT CONNACK PUBLISH PUBACK PUBREC PUBREL PUBCOMP SUBSCRIBE SUBACK UNSUBSCRIBE UNSUBACK PINGREQ PINGRESP DISCONNECT AUTH".split(" ");
const V4_REFUSALS = "|unacceptable protocol version|identifier rejected|server unavailable|bad user name or password|not authorized".split("|");
const V4_TO_V5 = "\x00\x84\x85\x88\x86\x87"; // 3.1.1 CONNACK return code -> v5 reason code
const enum Max { SIZE = 268435460 }
const PINGREQ_BYTES = Uint8Array.of(0xc0, 0);
const NO_BYTES = new Uint8Array(0);

function err(message: string, code = 0x81): MqttProtocolError {
  return new MqttProtocolError(message, code);
}

/** A non-empty topic name without wildcards and a QoS (one call on the publish path). */
function checkPublish(t: unknown, q: unknown): void {
  if (typeof t !== "string" || !t || t.indexOf("+") >= 0 || t.indexOf("#") >= 0) throw err("bad topic " + t, 0x90);
  if (q !== 0 && q !== 1 && q !== 2) throw err("bad QoS " + q, 0x82);
}

/** Bytes a Variable Byte Integer takes. */
export function varintSize(v: number): number {
  return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

/** Writes a Variable Byte Integer; returns the next offset. */
export function putVarint(b: Uint8Array, at: number, v: number): number {
  do {
    let c = v % 128;
    v = (v - c) / 128;
    if (v > 0) c |= 0x80;
    b[at++] = c;
  } while (v > 0);
  return at;
}

/** A packet of `len` bytes after its fixed header, first byte written; the body starts at out.length - len. */
export function packet(first: number, len: number): Uint8Array {
  if (len > 268435455) throw err("packet too large", 0x95);
  const out = new Uint8Array(1 + varintSize(len) + len);
  out[0] = first;
  putVarint(out, 1, len);
  return out;
}

/** UTF-8 bytes of an MQTT string (no U+0000, no lone surrogate), at most 65535. */
export function strSize(s: string, what: string): number {
  const n = typeof s === "string" ? utf8Length(s, true) : 65536;
  if (n > 65535) throw err("bad " + what);
  return n;
}

/** Writes an MQTT string of n bytes (measured by strSize); returns the next offset. */
export function putStr(b: Uint8Array, at: number, s: string, n: number): number {
  b[at] = n >> 8;
  b[at + 1] = n;
  return utf8Write(s, b, at + 2);
}

function putBin(b: Uint8Array, at: number, v: Uint8Array): number {
  b[at] = v.length >> 8;
  b[at + 1] = v.length;
  b.set(v, at + 2);
  return at + 2 + v.length;
}

function ack(type: number, id: number): Uint8Array {
  return Uint8Array.of((type << 4) | (type === T.PUBREL ? 2 : 0), 2, id >> 8, id & 255);
}

/** Any failure as the session's one error type. */
function asError(e: unknown): MqttProtocolError {
  if (e instanceof MqttProtocolError) return e;
  if (e instanceof Utf8Error) {
    const p = e.problem;
    return err(`invalid UTF-8: ${p === "nul" ? "U+0000" : p === "lead" && e.value < 0xc2 ? "overlong" : p} at ${e.at}`);
  }
  return err("internal: " + e, 0x83);
}

export class Session {
  // Fields are declared and set in the constructor: class field initializers cost
  // XS bytecode (an initializer function) and fields that stay undefined cost heap slots.
  declare clientId: string;
  declare readonly counters: MqttCounters;
  /** Read cursor for the MQTT 5 extension. */
  declare at: number;
  declare readonly opts: SessionOptions;
  declare readonly limits: SessionLimits;
  /** What the server granted (defaults until CONNACK). */
  declare server: ConnectInfo;
  /** MQTT 5 inbound aliases (index: alias) and outbound ones (topic -> alias); made at open() on MQTT 5, used by ./v5. */
  declare aliasesIn: (string | undefined)[] | undefined;
  declare aliasesOut: Map<string, number> | undefined;

  private declare ev: SessionEvents;
  private declare v5: V5 | undefined;
  private declare store: InflightStore | undefined;
  private declare state: number;
  /** Our QoS 1/2 PUBLISH and SUBSCRIBE/UNSUBSCRIBE not finished, by packet id (one id space). */
  private declare ops: Map<number, Outgoing | Pending>;
  /** QoS 1/2 not sent yet, in order, from index `wi`; made when needed (an idle session holds no array). */
  private declare wait: Outgoing[] | undefined;
  private declare wi: number;
  /** QoS 0 asked for while disconnected; made when needed. */
  private declare q0: Message[] | undefined;
  private declare nextId: number;
  private declare sent: number; // QoS 1/2 PUBLISH on the wire, unacknowledged, this connection
  /** Inbound QoS 2 packet ids awaiting PUBREL; made at the first one. */
  private declare q2in: Set<number> | null;
  /** While connecting: the CONNACK deadline; connected: the PINGRESP deadline while a PINGREQ is out, else -1. */
  private declare due: number;
  private declare lastSend: number;
  private declare lastRecv: number;
  private declare timerAt: number;
  /** A packet split across chunks: its buffer (announced size) and how much is filled, or a header fragment. */
  private declare part: Uint8Array | null | undefined;
  private declare fill: number;

  constructor(options: SessionOptions, events: SessionEvents, v5?: V5) {
    this.opts = options;
    this.ev = events;
    this.counters = { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, connectAttempts: 0, connections: 0 };
    this.at = this.sent = this.lastSend = this.lastRecv = 0;
    this.state = St.IDLE;
    this.ops = new Map();
    this.nextId = 1;
    this.due = this.timerAt = -1;
    // Fields that would stay undefined or null (v5, store, q2in, part) are set only
    // when used: each costs a heap slot.
    if (options.version === 5) {
      if (!v5) throw err("MQTT 5: use xsiot/mqtt/client", 0x84);
      this.v5 = v5;
    }
    this.clientId = options.clientId;
    this.limits = options.limits ? { ...DEFAULT_SESSION_LIMITS, ...options.limits } : DEFAULT_SESSION_LIMITS;
    this.server = this.defaults();
    const store = options.store;
    if (store) {
      this.store = store;
      // Index loops throughout: for-of costs XS ~100 B of bytecode more each.
      const records = store.load();
      for (let i = 0; i < records.length; i++) {
        const r = records[i];
        const qos = r.packet ? ((r.packet[0] >> 1) & 3) as QoS : 2;
        // A clean start forgets QoS 2 exchanges past PUBREC (the server owns those messages),
        // but unacknowledged PUBLISH packets are kept and sent again as new messages.
        if ((r.state !== 2 && (!r.packet || !qos)) || (r.state === 2 && options.clean)) {
          store.remove(r.packetId);
          continue;
        }
        const e: Outgoing = { id: r.packetId, qos, st: r.state, pkt: r.packet, op: undefined, topic: "", payload: NO_BYTES, retain: false, pb: null };
        this.ops.set(r.packetId, e);
        if (!r.state) this.waiting(e);
      }
    }
  }

  get connected(): boolean {
    return this.state === St.CONNECTED;
  }
  /** Something is unacknowledged or waiting to be sent (or an inbound QoS 2 awaits PUBREL). */
  get busy(): boolean {
    // An inbound QoS 2 message awaiting PUBREL is an exchange in progress: a
    // flush-then-close must not cut it (the server would hold the message).
    return this.ops.size > 0 || !!this.q0 || (this.state === St.CONNECTED && !!this.q2in && this.q2in.size > 0);
  }
  get info(): ConnectInfo {
    return this.server;
  }

  // ------------------------------------------------------------ events

  /** The transport is up: sends CONNECT, then everything waiting (pipelined before CONNACK). */
  open(now: number): void {
    if (this.part) this.part = null;
    this.server = this.defaults();
    this.sent = 0;
    // MQTT 5 aliases last one connection; ./v5 makes each table at its first alias.
    if (this.aliasesIn) this.aliasesIn = undefined;
    if (this.aliasesOut) this.aliasesOut = undefined;
    this.state = St.CONNECTING;
    this.counters.connectAttempts++;
    this.due = now + (this.opts.connectTimeoutMs ?? 10000);
    this.lastRecv = now;
    this.send(this.connectPacket(), now);
    // Resend what the previous connection left unacknowledged, with DUP.
    this.ops.forEach((x) => {
      const e = x as Outgoing;
      if ((x as Pending).filters) this.send((x as Pending).pkt, now);
      else if (e.st === 2 && this.opts.clean) {
        // New session: the server has forgotten this exchange; it owned the message since PUBREC.
        this.forget(e);
        this.ev.done(e.op, null);
      } else if (e.st === 1) {
        let b = e.pkt;
        if (b) {
          b = b.slice();
          b[0] |= 8;
        } else b = this.encode(e, e.id, 8, 0, this.limits.maxPacketSize);
        this.sent++;
        this.send(b, now);
      } else if (e.st === 2) {
        this.sent++;
        this.send(ack(T.PUBREL, e.id), now);
      }
    });
    this.pump(now);
    this.sched(false);
  }

  receive(chunk: Uint8Array, now: number): void {
    if (this.state !== St.IDLE) {
      try {
        this.counters.bytesIn += chunk.length;
        this.feed(chunk, now);
      } catch (e) {
        this.fail(asError(e), now);
      }
    }
    this.sched(false);
  }

  tick(now: number): void {
    // The driver's timer has fired: always report the next deadline again, even
    // if unchanged (a timer that fires early must not leave the session without one).
    if (this.state === St.CONNECTING && now >= this.due) {
      this.fail(err(`no CONNACK within ${this.opts.connectTimeoutMs ?? 10000} ms`, 0x88), now, false);
    } else if (this.state === St.CONNECTED && this.due >= 0 && now >= this.due) {
      this.fail(err(`no PINGRESP within ${this.pingTimeout()} ms`, 0x8d), now, false);
    } else if (this.state === St.CONNECTED && this.server.keepAlive > 0 && this.due < 0 && now >= this.pingDue()) {
      this.send(PINGREQ_BYTES, now);
      this.due = now + this.pingTimeout();
    }
    this.sched(true);
  }

  /** Requests a PUBLISH; `op` comes back in done(). */
  publish(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, properties: Properties | undefined, op: unknown, now: number): void {
    try {
      checkPublish(topic, qos);
      const v5 = this.v5;
      if (v5 && properties && properties.topicAlias !== undefined) throw err("topicAlias is the session's", 0x82);
      this.room();
      const m: Message = { topic, payload, qos, retain, pb: v5 ? v5.write(properties, T.PUBLISH) : null, op };
      // Too large for our own limit: refused now rather than at its turn to be sent. A
      // UTF-16 unit takes at most 3 bytes, so only a message near the limit is measured.
      const max = this.limits.maxPacketSize;
      if (payload.length + 3 * topic.length + (m.pb ? m.pb.length : 0) + 9 > max) this.encode(m, 0, 0, 0, max);
      if (!qos) {
        if (this.state === St.IDLE) (this.q0 || (this.q0 = [])).push(m);
        else this.send0(m, now);
      } else {
        const e = m as Outgoing;
        const id = (e.id = this.allocId());
        e.st = 0;
        e.pkt = null;
        this.ops.set(id, e);
        // What the store keeps is sent as kept (no alias): it is resent after a reboot.
        if (this.store) this.store.put({ packetId: id, state: 0, packet: (e.pkt = this.encode(e, id, 0, 0, this.limits.maxPacketSize)) });
        this.waiting(e);
        this.pump(now);
      }
    } catch (e) {
      this.ev.done(op, asError(e));
    }
    this.sched(false);
  }

  subscribe(subscriptions: Subscription[], properties: Properties | undefined, op: unknown, now: number): void {
    this.request(T.SUBSCRIBE, subscriptions, properties, op, now);
  }

  unsubscribe(filters: string[], op: unknown, now: number): void {
    this.request(T.UNSUBSCRIBE, filters, undefined, op, now);
  }

  /** Orderly close: DISCONNECT (Normal; the server discards the Will), then close. */
  disconnect(now: number, reasonCode = 0): void {
    if (this.state !== St.IDLE) {
      this.send(this.v5 && reasonCode ? Uint8Array.of(0xe0, 1, reasonCode) : Uint8Array.of(0xe0, 0), now);
      this.state = St.IDLE;
      this.ev.down(null);
    }
    this.sched(false);
  }

  /**
   * The transport closed or failed (`why` describes it). Closes unless the
   * session had already closed. Unacknowledged work stays for the next open().
   */
  lost(now: number, why = "connection lost"): void {
    if (this.state !== St.IDLE) {
      const cut = !!this.part;
      this.state = St.IDLE;
      this.ev.down(cut ? err(why + " mid-packet (truncated stream)") : err(why, 0x80));
    }
    this.sched(false);
  }

  /** Rejects every request still waiting (the client gives up). Stored packets stay in the store. */
  abort(error: MqttProtocolError): void {
    const ev = this.ev;
    this.ops.forEach((x, id) => {
      const op = x.op;
      x.op = undefined;
      if ((x as Pending).filters) this.ops.delete(id);
      ev.done(op, error);
    });
    const q = this.q0;
    if (q) {
      this.q0 = undefined;
      for (let i = 0; i < q.length; i++) ev.done(q[i].op, error);
    }
  }

  // ------------------------------------------------------------ inbound

  private feed(b: Uint8Array, now: number): void {
    let p = 0;
    const n = b.length;
    let f = this.part;
    if (f) {
      if (this.fill < 0) {
        // A fixed header cut short: join it to the new chunk.
        const j = new Uint8Array(f.length + n);
        j.set(f);
        j.set(b, f.length);
        b = j;
        this.part = null;
      } else {
        const got = Math.min(f.length - this.fill, n);
        f.set(b.subarray(0, got), this.fill);
        this.fill += got;
        p = got;
        if (this.fill < f.length) return;
        this.part = null;
        this.frame(f, 0, f.length, now);
      }
    }
    const end = b.length;
    while (p < end && this.state !== St.IDLE) {
      // Fixed header: type and flags, then the Remaining Length (1 to 4 bytes, minimal).
      let len = 0, mul = 1, i = p + 1, c = 0x80;
      while (c & 0x80) {
        if (i - p > 4) throw err("remaining length longer than 4 bytes");
        if (i >= end) {
          if (b[p] >> 4 === 0) throw err("reserved packet type 0");
          this.part = b.slice(p);
          this.fill = -1;
          return;
        }
        c = b[i++];
        if (c === 0 && i - p > 2) throw err("remaining length not minimal");
        len += (c & 0x7f) * mul;
        mul *= 128;
      }
      const size = i - p + len;
      if (size > this.limits.maxPacketSize) throw err(size + " B exceeds maximum packet size", 0x95);
      if (p + size > end) {
        f = new Uint8Array(size);
        f.set(b.subarray(p));
        this.part = f;
        this.fill = end - p;
        return;
      }
      this.frame(b, p, p + size, now);
      p += size;
    }
  }

  /** One whole packet b[p, end). */
  private frame(b: Uint8Array, p: number, end: number, now: number): void {
    this.lastRecv = now;
    this.counters.packetsIn++;
    const b0 = b[p], type = b0 >> 4, flags = b0 & 15;
    let q = p + 1;
    while (b[q++] & 0x80);
    this.at = q;
    const v5 = this.v5;
    if (!type) throw err("reserved packet type 0");
    if (type === T.PUBLISH) {
      if ((flags & 6) === 6) throw err("PUBLISH with QoS 3");
    } else if (flags !== (type === T.PUBREL ? 2 : type === T.SUBSCRIBE || type === T.UNSUBSCRIBE ? 2 : 0)) {
      throw err(NAMES[type] + " reserved flags");
    }
    if (this.state === St.CONNECTING && type !== T.CONNACK) throw err(NAMES[type] + " received before CONNACK", 0x82);
    switch (type) {
      case T.CONNACK: {
        if (this.state !== St.CONNECTING) throw err("second CONNACK", 0x82);
        if (end - q < 2) throw this.short(type);
        const sp = b[q], code = b[q + 1];
        this.at = q + 2;
        if (sp > 1 || (sp && code)) throw err("CONNACK flags");
        const props = v5 ? v5.read(this, b, end, T.CONNACK) : undefined;
        if (!v5 && code > 5) throw err("CONNACK code " + code);
        this.rest(end, type);
        if (code) {
          const why = props && props.reasonString ? `: ${props.reasonString}` : "";
          this.fail(err(`connection refused: ${v5 ? v5.reason(code) : V4_REFUSALS[code]}${why}`, v5 ? code : V4_TO_V5.charCodeAt(code)), now, false);
          return;
        }
        if (sp && this.opts.clean) throw err("CONNACK session present", 0x82);
        const info = this.server;
        info.sessionPresent = sp === 1;
        if (props && v5) v5.connack(this, props, info);
        if (!sp && this.q2in) this.q2in = null;
        this.due = -1;
        this.state = St.CONNECTED;
        this.counters.connections++;
        this.ev.up(info);
        this.pump(now);
        return;
      }
      case T.PUBLISH: {
        const qos = ((flags >> 1) & 3) as QoS;
        if (flags & 8 && !qos) throw err("PUBLISH QoS 0 DUP");
        if (end - q < 2) throw this.short(type);
        const tlen = (b[q] << 8) | b[q + 1];
        q += 2;
        if (tlen > this.limits.maxTopicLength) throw err("topic too long", 0x90);
        if (q + tlen + (qos ? 2 : 0) > end) throw this.short(type);
        let topic = tlen ? utf8Decode(b, q, q + tlen, true) : "";
        q += tlen;
        if (topic.indexOf("+") >= 0 || topic.indexOf("#") >= 0) throw err("bad topic " + topic, 0x90);
        let id = 0;
        if (qos) {
          id = (b[q] << 8) | b[q + 1];
          q += 2;
          if (!id) throw err("PUBLISH with packet identifier 0");
        }
        this.at = q;
        let props: Properties | undefined;
        if (v5) {
          props = v5.read(this, b, end, T.PUBLISH);
          topic = v5.aliasIn(this, topic, props);
        } else if (!topic) throw err("bad topic", 0x90);
        const payload = b.subarray(this.at, end);
        // QoS 2: delivered once, at the first PUBLISH of its id until PUBREL.
        const q2 = qos === 2 ? this.q2in || (this.q2in = new Set()) : null;
        if (!q2 || !q2.has(id)) {
          if (q2) {
            if (q2.size >= this.limits.receiveMaximum) throw err(`more than ${this.limits.receiveMaximum} QoS 2 awaiting PUBREL`, 0x93);
            q2.add(id);
          }
          this.ev.message(topic, payload, qos, (flags & 1) === 1, (flags & 8) !== 0, props);
        }
        if (qos) this.send(ack(q2 ? T.PUBREC : T.PUBACK, id), now);
        return;
      }
      case T.PUBACK: case T.PUBREC: case T.PUBREL: case T.PUBCOMP: {
        const id = this.id(b, end, type);
        let code = 0;
        let props: Properties | undefined;
        if (v5 && this.at < end) {
          code = b[this.at++];
          if (this.at < end) props = v5.read(this, b, end, type);
        }
        this.rest(end, type);
        if (type === T.PUBREL) {
          const known = !!this.q2in && this.q2in.delete(id);
          this.send(known || !v5 ? ack(T.PUBCOMP, id) : Uint8Array.of(0x70, 3, id >> 8, id & 255, 0x92), now);
          return;
        }
        const e = this.ops.get(id) as Outgoing | undefined;
        const want = type === T.PUBCOMP ? 2 : 1;
        if (!e || e.st !== want || (type === T.PUBACK ? e.qos !== 1 : e.qos !== 2)) {
          throw err(`${NAMES[type]} for packet ${id}: unexpected`, 0x82);
        }
        if (type === T.PUBREC && code < 0x80) {
          e.st = 2;
          // The server owns the message now.
          e.pkt = null;
          e.payload = NO_BYTES;
          if (this.store) this.store.put({ packetId: id, state: 2, packet: null });
          this.send(ack(T.PUBREL, id), now);
          return;
        }
        // PUBCOMP 0x92 (not found): the server had already completed it; the message was delivered.
        this.release(e, type === T.PUBCOMP && code === 0x92 ? 0 : code, props, now);
        return;
      }
      case T.SUBACK: case T.UNSUBACK: {
        const id = this.id(b, end, type);
        if (v5) v5.read(this, b, end, type);
        const r = this.ops.get(id) as Pending | undefined;
        // A 3.1.1 UNSUBACK has no payload: trailing bytes are rejected by rest().
        // A loop, not Array.from: Espruino's Array.from takes no typed array (no @@iterator).
        const codes: number[] = [];
        if (type === T.SUBACK || v5) for (let i = this.at; i < end; i++) codes.push(b[i]);
        if (codes.length) this.at = end;
        this.rest(end, type);
        // SUBSCRIBE = SUBACK - 1, UNSUBSCRIBE = UNSUBACK - 1.
        if (!r || !r.filters || r.type !== type - 1) throw err(`${NAMES[type]} for packet ${id}: unexpected`, 0x82);
        if ((type === T.SUBACK || v5) && codes.length !== r.filters.length) throw err(NAMES[type] + " reason codes", 0x82);
        this.ops.delete(id);
        const results: SubscribeOutcome[] = [];
        let bad = -1;
        for (let i = codes.length; i--; ) {
          const c = codes[i];
          if (!v5 && c > 2 && c !== 0x80) throw err("SUBACK code " + c);
          if (c >= 0x80) bad = i;
          if (type === T.SUBACK) results[i] = c < 0x80 ? { filter: r.filters[i], granted: c as QoS } : { filter: r.filters[i], reasonCode: c };
        }
        if (type === T.SUBACK) this.ev.done(r.op, null, results);
        else if (bad >= 0 && v5) this.ev.done(r.op, err(`unsubscribe "${r.filters[bad]}" failed: ${v5.reason(codes[bad])}`, codes[bad]));
        else this.ev.done(r.op, null, codes);
        this.pump(now);
        return;
      }
      case T.PINGRESP:
        this.rest(end, type);
        this.due = -1;
        return;
      case T.DISCONNECT: {
        if (!v5) throw err("DISCONNECT not allowed in MQTT 3.1.1", 0x82);
        let code = 0;
        let pr: Properties | undefined;
        if (q < end) {
          code = b[this.at++];
          if (this.at < end) pr = v5.read(this, b, end, T.DISCONNECT);
        }
        this.rest(end, type);
        let msg = `server disconnected: ${v5.reason(code)}`;
        if (pr && pr.reasonString) msg += `: ${pr.reasonString}`;
        if (pr && pr.serverReference) msg += ` (use server ${pr.serverReference})`;
        this.fail(err(msg, code), now, false);
        return;
      }
      default:
        throw err("a server must not send " + NAMES[type], 0x82);
    }
  }

  private id(b: Uint8Array, end: number, type: number): number {
    const q = this.at;
    if (end - q < 2) throw this.short(type);
    const id = (b[q] << 8) | b[q + 1];
    if (!id) throw err(NAMES[type] + " packet identifier 0");
    this.at = q + 2;
    return id;
  }

  private short(type: number): MqttProtocolError {
    return err(NAMES[type] + " too short");
  }

  private rest(end: number, type: number): void {
    if (this.at !== end) throw err(NAMES[type] + " trailing bytes");
  }

  // ------------------------------------------------------------ outbound

  /** Encodes our PUBLISH (`dup` 8 or 0) with `alias` as ./v5 alias() gives it; throws when it would exceed `max` bytes. */
  private encode(m: Message, id: number, dup: number, alias: number, max: number): Uint8Array {
    const tlen = alias > 0 ? 0 : strSize(m.topic, "topic name");
    if (tlen > this.limits.maxTopicLength) throw err("topic too long", 0x90);
    const pb = m.pb, qos = m.qos;
    // The alias property goes first in the property block: its length prefix grows by 3.
    let k = 0;
    if (pb && alias) while (pb[k++] & 0x80);
    const inner = pb ? pb.length - k : 0;
    const pl = pb ? (alias ? varintSize(inner + 3) + 3 + inner : pb.length) : 0;
    const len = 2 + tlen + (qos ? 2 : 0) + pl + m.payload.length;
    const size = 1 + varintSize(len) + len;
    if (size > max) throw err(size + " B exceeds maximum packet size", 0x95);
    const out = packet(0x30 | dup | (qos << 1) | (m.retain ? 1 : 0), len);
    let o = putStr(out, size - len, tlen ? m.topic : "", tlen);
    if (qos) {
      out[o++] = id >> 8;
      out[o++] = id & 255;
    }
    if (pb) {
      if (alias) {
        const a = alias < 0 ? -alias : alias;
        o = putVarint(out, o, inner + 3);
        out[o++] = 0x23;
        out[o++] = a >> 8;
        out[o++] = a & 255;
      }
      if (inner || !alias) out.set(k ? pb.subarray(k) : pb, o);
      o += inner || !alias ? pb.length - k : 0;
    }
    out.set(m.payload, o);
    return out;
  }

  /** Most bytes in our packet: ours (limits.maxPacketSize), and the server's once CONNACK told it. */
  private max(): number {
    const m = this.limits.maxPacketSize, s = this.server.maximumPacketSize;
    return s < m ? s : m;
  }

  /** The alias for `topic` while connected on MQTT 5 (see encode). */
  private alias(topic: string): number {
    return this.v5 && this.state === St.CONNECTED ? this.v5.alias(this, topic) : 0;
  }

  /** Sends a QoS 0 PUBLISH now (connecting or connected). */
  private send0(m: Message, now: number): void {
    try {
      this.checkServer(0, m.retain);
      this.send(this.encode(m, 0, 0, this.alias(m.topic), this.max()), now);
      this.ev.done(m.op, null);
    } catch (e) {
      this.ev.done(m.op, asError(e));
    }
  }

  /** Sends what flow control allows: queued QoS 0, then waiting QoS 1/2 up to the in-flight cap. */
  private pump(now: number): void {
    if (this.state === St.IDLE) return;
    const q = this.q0;
    if (q) {
      this.q0 = undefined;
      for (let i = 0; i < q.length; i++) this.send0(q[i], now);
    }
    const lim = this.limits;
    const max = this.state === St.CONNECTED ? this.server.receiveMaximum : lim.maxPipelined;
    const cap = lim.maxInflight < max ? lim.maxInflight : max;
    const wait = this.wait;
    if (!wait) return;
    while (this.sent < cap && this.wi < wait.length) {
      const e = wait[this.wi++];
      if (e.st !== 0 || this.ops.get(e.id) !== e) continue;
      let pkt = e.pkt;
      const max = this.max();
      try {
        if (pkt) {
          this.checkServer(e.qos, (pkt[0] & 1) === 1);
          if (pkt.length > max) throw err(pkt.length + " B exceeds maximum packet size", 0x95);
        } else {
          this.checkServer(e.qos, e.retain);
          pkt = this.encode(e, e.id, 0, this.alias(e.topic), max);
        }
      } catch (x) {
        this.forget(e);
        this.ev.done(e.op, asError(x));
        continue;
      }
      e.st = 1;
      this.sent++;
      if (this.store) this.store.put({ packetId: e.id, state: 1, packet: e.pkt });
      this.send(pkt, now);
    }
    if (this.wi === wait.length) {
      this.wait = undefined;
      this.wi = 0;
    }
  }

  /** Limits the server set in CONNACK (known only once connected). */
  private checkServer(qos: QoS, retain: boolean): void {
    if (this.state !== St.CONNECTED) return;
    const s = this.server;
    if (qos > s.maximumQoS) throw err("QoS above server maximum", 0x9b);
    if (retain && !s.retainAvailable) throw err("server has no retain", 0x9a);
  }

  private request(type: number, list: (Subscription | string)[], props: Properties | undefined, op: unknown, now: number): void {
    try {
      if (!list.length) throw err("no filters", 0x82);
      const filters: string[] = [];
      let len = 2;
      const sizes: number[] = [];
      for (let i = 0; i < list.length; i++) {
        const f = type === T.SUBSCRIBE ? (list[i] as Subscription).filter : (list[i] as string);
        if (typeof f !== "string" || !isValidFilter(f)) throw err("bad filter " + f, 0x8f);
        const n = strSize(f, "topic filter");
        if (n > this.limits.maxTopicLength) throw err("filter too long", 0x8f);
        filters.push(f);
        sizes.push(n);
        len += 2 + n + (type === T.SUBSCRIBE ? 1 : 0);
      }
      this.room();
      const pb = this.v5 ? this.v5.write(type === T.SUBSCRIBE ? props : undefined, type) : null;
      if (pb) len += pb.length;
      const id = this.allocId();
      const pkt = packet((type << 4) | 2, len);
      let o = pkt.length - len;
      pkt[o++] = id >> 8;
      pkt[o++] = id & 255;
      if (pb) {
        pkt.set(pb, o);
        o += pb.length;
      }
      for (let i = 0; i < filters.length; i++) {
        o = putStr(pkt, o, filters[i], sizes[i]);
        if (type === T.SUBSCRIBE) {
          const s = list[i] as Subscription;
          const qos = s.qos;
          if (qos !== 0 && qos !== 1 && qos !== 2) throw err("bad QoS " + qos, 0x82);
          pkt[o++] = qos | (this.v5 ? (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | ((s.retainHandling || 0) & 3) << 4 : 0);
        }
      }
      this.ops.set(id, { type, pkt, filters, op });
      if (this.state !== St.IDLE) this.send(pkt, now);
    } catch (e) {
      this.ev.done(op, asError(e));
    }
    this.sched(false);
  }

  private waiting(e: Outgoing): void {
    let w = this.wait;
    if (!w) {
      w = this.wait = [];
      this.wi = 0;
    }
    w.push(e);
  }

  private release(e: Outgoing, code: number, props: Properties | undefined, now: number): void {
    this.forget(e);
    this.sent--;
    if (code >= 0x80 && this.v5) {
      const why = props && props.reasonString ? `: ${props.reasonString}` : "";
      this.ev.done(e.op, err(`publish refused: ${this.v5.reason(code)}${why}`, code));
    } else this.ev.done(e.op, null);
    if (this.wait) this.pump(now);
  }

  private forget(e: Outgoing): void {
    this.ops.delete(e.id);
    if (this.store) this.store.remove(e.id);
  }

  // ------------------------------------------------------------ helpers

  private connectPacket(): Uint8Array {
    const o = this.opts;
    const v5 = this.v5;
    const w = o.will;
    const idLen = strSize(this.clientId, "client identifier");
    const cp = v5 ? v5.write(v5.connectProps(this), 1) : null;
    let len = 10 + 2 + idLen + (cp ? cp.length : 0);
    let flags = o.clean ? 2 : 0;
    let wp: Uint8Array | null = null, wt = 0;
    if (w) {
      const wq = w.qos || 0;
      flags |= 4 | (wq << 3) | (w.retain ? 0x20 : 0);
      if (v5) {
        let p = w.properties;
        if (w.delay) p = { ...p, willDelayInterval: w.delay };
        wp = v5.write(p, 0);
        len += wp.length;
      }
      wt = strSize(w.topic, "will topic");
      checkPublish(w.topic, wq);
      if (w.payload.length > 65535) throw err("bad will");
      len += 4 + wt + w.payload.length;
    }
    let ul = 0;
    if (o.username !== undefined) {
      flags |= 0x80;
      ul = strSize(o.username, "username");
      len += 2 + ul;
    }
    if (o.password !== undefined) {
      if ((!v5 && o.username === undefined) || o.password.length > 65535) throw err("bad password");
      flags |= 0x40;
      len += 2 + o.password.length;
    }
    const ka = o.keepAlive;
    if (!(ka >= 0 && ka <= 65535) || Math.floor(ka) !== ka) throw err("bad keepAlive");
    const out = packet(0x10, len);
    let at = out.length - len;
    at = putStr(out, at, "MQTT", 4);
    out[at++] = this.v5 ? 5 : 4;
    out[at++] = flags;
    out[at++] = ka >> 8;
    out[at++] = ka & 255;
    if (cp) {
      out.set(cp, at);
      at += cp.length;
    }
    // A persistent session resumes with the client id the server assigned.
    at = putStr(out, at, this.clientId, idLen);
    if (w) {
      if (wp) {
        out.set(wp, at);
        at += wp.length;
      }
      at = putStr(out, at, w.topic, wt);
      at = putBin(out, at, w.payload);
    }
    if (o.username !== undefined) at = putStr(out, at, o.username, ul);
    if (o.password !== undefined) putBin(out, at, o.password);
    return out;
  }

  private send(bytes: Uint8Array, now: number): void {
    this.lastSend = now;
    const c = this.counters;
    c.packetsOut++;
    c.bytesOut += bytes.length;
    this.ev.send(bytes);
  }

  /** Closes for a fault: DISCONNECT with the reason on MQTT 5 (when `tell`), then close. */
  private fail(e: MqttProtocolError, now: number, tell = true): void {
    if (this.state === St.IDLE) return;
    if (tell && this.v5) this.send(Uint8Array.of(0xe0, 1, e.reasonCode >= 0x80 ? e.reasonCode : 0x81), now);
    this.state = St.IDLE;
    if (this.part) this.part = null;
    this.ev.down(e);
  }

  private room(): void {
    if (this.ops.size + (this.q0 ? this.q0.length : 0) >= this.limits.maxQueued) {
      throw err("queue full", 0x97);
    }
  }

  private allocId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      if (!this.ops.has(id)) return id;
    }
    throw err("no packet id", 0x91);
  }

  private pingTimeout(): number {
    return this.opts.pingTimeoutMs ?? Math.min(10000, this.server.keepAlive * 1000);
  }

  private pingDue(): number {
    return (this.lastSend < this.lastRecv ? this.lastSend : this.lastRecv) + this.server.keepAlive * 1000;
  }

  private defaults(): ConnectInfo {
    return {
      sessionPresent: false, clientId: this.clientId, keepAlive: this.opts.keepAlive, receiveMaximum: 65535,
      maximumPacketSize: Max.SIZE, topicAliasMaximum: 0, maximumQoS: 2, retainAvailable: true,
    };
  }

  /**
   * Reports the next deadline when it moved earlier (or to none, or after a
   * tick). A later one is not reported: the timer fires early, tick() looks
   * and reports again, so traffic does not reset a timer per message.
   */
  private sched(always: boolean): void {
    let at = -1;
    if (this.state === St.CONNECTING) at = this.due;
    else if (this.state === St.CONNECTED) {
      if (this.due >= 0) at = this.due;
      else if (this.server.keepAlive > 0) at = this.pingDue();
    }
    const t = this.timerAt;
    if (always || (at !== t && (at < 0 || t < 0 || at < t))) {
      this.timerAt = at;
      this.ev.timer(at);
    }
  }
}
