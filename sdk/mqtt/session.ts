import {
  encode, decode, Packet, PublishPacket, Will, Subscription, Properties, MqttLimits, DEFAULT_LIMITS, QoS,
  CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK,
  PINGREQ, PINGRESP, DISCONNECT, AUTH, PACKET_NAMES,
} from "./codec";
import { MqttProtocolError, reasonName, MALFORMED, PROTOCOL_ERROR, RECEIVE_MAXIMUM_EXCEEDED, TOPIC_ALIAS_INVALID, PACKET_TOO_LARGE } from "./error";
import { FrameReader } from "./frame";
import { varintSize } from "./wire";
import { InflightStore, MemoryInflightStore } from "./store";
import { isValidFilter, isValidTopic } from "./topic";

// Sans-I/O MQTT client session: events in (transport open, bytes, time,
// requests, transport lost), actions out (send, timer, message, resolve,
// reject, connected, close). No sockets, no clocks: `now` is passed in (ms).

export interface SessionLimits extends MqttLimits {
  /** Most of our QoS 1/2 PUBLISH packets unacknowledged at once (also capped by the server's Receive Maximum). */
  maxInflight: number;
  /** Most QoS 1/2 PUBLISH sent before CONNACK tells the server's Receive Maximum. */
  maxPipelined: number;
  /** Most operations held (in flight + queued + pending subscribes); beyond it requests are rejected. */
  maxQueued: number;
  /** Most inbound QoS 2 messages awaiting PUBREL (sent as Receive Maximum on MQTT 5). */
  receiveMaximum: number;
  /** Most topic aliases each way: inbound (sent as Topic Alias Maximum on MQTT 5) and outbound (also capped by the server's). */
  topicAliasMaximum: number;
}

export const DEFAULT_SESSION_LIMITS: Readonly<SessionLimits> = Object.freeze({
  ...DEFAULT_LIMITS,
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

export type Action =
  | { type: "send"; bytes: Uint8Array }
  /** Call tick() at this time; -1: no timer needed. Replaces the previous timer. */
  | { type: "timer"; at: number }
  | { type: "connected"; info: ConnectInfo }
  | { type: "message"; topic: string; payload: Uint8Array; qos: QoS; retain: boolean; dup: boolean; properties: Properties }
  /** value: SubscribeOutcome[] for subscribe, number[] reason codes for unsubscribe, undefined for publish. */
  | { type: "resolve"; op: number; value?: SubscribeOutcome[] | number[] }
  | { type: "reject"; op: number; error: MqttProtocolError }
  /** The driver must close the transport. error is null after disconnect(). */
  | { type: "close"; error: MqttProtocolError | null };

interface Outgoing {
  packetId: number;
  qos: QoS;
  state: 0 | 1 | 2;
  packet: Uint8Array | null;
  op: number;
  /** Topic and properties for the first send with a topic alias; dropped after. */
  topic?: string;
}

interface Pending {
  type: 8 | 10;
  packet: Uint8Array;
  filters: string[];
  op: number;
}

interface Qos0 {
  topic: string;
  payload: Uint8Array;
  retain: boolean;
  properties?: Properties;
  op: number;
}

const IDLE = 0, CONNECTING = 1, CONNECTED = 2;
const NO_OP = -1;

const V4_REFUSALS = ["", "unacceptable protocol version", "identifier rejected", "server unavailable",
  "bad user name or password", "not authorized"];
const V4_TO_V5 = [0, 0x84, 0x85, 0x88, 0x86, 0x87];

export class Session {
  readonly version: 4 | 5;
  clientId: string;
  private opts: SessionOptions;
  private limits: SessionLimits;
  private store: InflightStore;
  private reader: FrameReader;
  private out: Action[] = [];
  private state = IDLE;

  private inflight = new Map<number, Outgoing>();
  private pending = new Map<number, Pending>();
  private qos0: Qos0[] = [];
  private nextId = 1;
  private sent = 0; // QoS 1/2 PUBLISH on the wire, unacknowledged, this connection
  private qos2In = new Set<number>();

  // Per connection.
  private keepAlive: number;
  private connackAt = -1;
  private pingAt = -1; // PINGRESP deadline while a PINGREQ is out
  private lastSend = 0;
  private lastRecv = 0;
  private timerAt = -1;
  private aliasesIn: (string | undefined)[] = [];
  private aliasesOut = new Map<string, number>();
  private server: ConnectInfo;

  constructor(options: SessionOptions) {
    this.opts = options;
    this.version = options.version;
    this.clientId = options.clientId;
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...options.limits };
    this.keepAlive = options.keepAlive;
    this.reader = new FrameReader(this.limits.maxPacketSize);
    this.store = options.store || new MemoryInflightStore();
    this.server = this.defaults();
    for (const r of this.store.load()) {
      const qos = r.packet ? ((r.packet[0] >> 1) & 3) as QoS : 2;
      // A clean start forgets QoS 2 exchanges past PUBREC (the server owns those messages),
      // but unacknowledged PUBLISH packets are kept and sent again as new messages.
      if ((r.state !== 2 && (!r.packet || !qos)) || (r.state === 2 && options.clean)) {
        this.store.remove(r.packetId);
        continue;
      }
      this.inflight.set(r.packetId, { packetId: r.packetId, qos, state: r.state, packet: r.packet, op: NO_OP });
    }
  }

  get connected(): boolean {
    return this.state === CONNECTED;
  }
  /** Something is unacknowledged or waiting to be sent (or an inbound QoS 2 awaits PUBREL). */
  get busy(): boolean {
    // An inbound QoS 2 message awaiting PUBREL is an exchange in progress: a
    // flush-then-close must not cut it (the server would hold the message).
    return this.inflight.size > 0 || this.pending.size > 0 || this.qos0.length > 0 || (this.state === CONNECTED && this.qos2In.size > 0);
  }
  get info(): ConnectInfo {
    return this.server;
  }

  // ------------------------------------------------------------ events

  /** The transport is up: sends CONNECT, then everything waiting (pipelined before CONNACK). */
  open(now: number): Action[] {
    this.reset();
    this.state = CONNECTING;
    this.connackAt = now + (this.opts.connectTimeoutMs ?? 10000);
    this.lastRecv = now;
    this.send(this.connectPacket(), now);
    // Resend what the previous connection left unacknowledged, with DUP.
    this.inflight.forEach((e) => {
      if (e.state === 2 && this.opts.clean) {
        // New session: the server has forgotten this exchange; it owned the message since PUBREC.
        this.inflight.delete(e.packetId);
        this.store.remove(e.packetId);
        this.resolve(e.op);
      } else if (e.state === 1 && e.packet) {
        const b = e.packet.slice();
        b[0] |= 8;
        this.sent++;
        this.send(b, now);
      } else if (e.state === 2) {
        this.sent++;
        this.send(encode({ type: PUBREL, packetId: e.packetId, reasonCode: 0 }, this.version), now);
      }
    });
    this.pending.forEach((p) => this.send(p.packet, now));
    this.pump(now);
    return this.flush();
  }

  receive(chunk: Uint8Array, now: number): Action[] {
    if (this.state === IDLE) return this.flush();
    let at = 0;
    try {
      while (at < chunk.length && this.state !== IDLE) {
        at = this.reader.feed(chunk, at);
        const frame = this.reader.take();
        if (frame) {
          this.lastRecv = now;
          this.handle(decode(frame, this.version, this.limits), now);
        }
      }
    } catch (e) {
      this.fail(e instanceof MqttProtocolError ? e : new MqttProtocolError(`internal error: ${e}`, 0x83), now);
    }
    return this.flush();
  }

  tick(now: number): Action[] {
    // The caller's timer has fired: always report the next deadline again, even
    // if unchanged (a timer that fires early must not leave the session without one).
    this.timerAt = -2;
    if (this.state === CONNECTING && now >= this.connackAt) {
      this.fail(new MqttProtocolError(`no CONNACK within ${this.opts.connectTimeoutMs ?? 10000} ms`, 0x88), now, false);
    } else if (this.state === CONNECTED && this.pingAt >= 0 && now >= this.pingAt) {
      this.fail(new MqttProtocolError(`keep-alive timeout: no PINGRESP within ${this.pingTimeout()} ms (dead link)`, 0x8d), now, false);
    } else if (this.state === CONNECTED && this.keepAlive > 0 && this.pingAt < 0 && now >= this.pingDue()) {
      this.send(encode({ type: PINGREQ }, this.version), now);
      this.pingAt = now + this.pingTimeout();
    }
    return this.flush();
  }

  /** Requests a PUBLISH. op identifies the request in resolve/reject actions. */
  publish(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, properties: Properties | undefined, op: number, now: number): Action[] {
    try {
      if (typeof topic !== "string" || !isValidTopic(topic)) throw new MqttProtocolError(`invalid topic name "${topic}"`, 0x90);
      if (qos !== 0 && qos !== 1 && qos !== 2) throw new MqttProtocolError(`invalid QoS ${qos}`, PROTOCOL_ERROR);
      if (properties && properties.topicAlias !== undefined) throw new MqttProtocolError("topic aliases are managed by the session", PROTOCOL_ERROR);
      if (this.version === 4 && properties) properties = undefined;
      this.checkRoom();
      if (qos === 0) {
        this.qos0.push({ topic, payload, retain, properties, op });
      } else {
        const packetId = this.allocId();
        const packet = encode({ type: PUBLISH, topic, payload, qos, retain, dup: false, packetId, properties }, this.version, this.limits);
        const e: Outgoing = { packetId, qos, state: 0, packet, op, topic };
        this.inflight.set(packetId, e);
        this.store.put({ packetId, state: 0, packet });
      }
      this.pump(now);
    } catch (e) {
      this.reject(op, e);
    }
    return this.flush();
  }

  subscribe(subscriptions: Subscription[], properties: Properties | undefined, op: number, now: number): Action[] {
    try {
      if (!subscriptions.length) throw new MqttProtocolError("no topic filters", PROTOCOL_ERROR);
      for (const s of subscriptions) {
        if (typeof s.filter !== "string" || !isValidFilter(s.filter)) throw new MqttProtocolError(`invalid topic filter "${s.filter}"`, 0x8f);
      }
      this.checkRoom();
      const packetId = this.allocId();
      const packet = encode({ type: SUBSCRIBE, packetId, subscriptions, properties: this.version === 5 ? properties : undefined }, this.version, this.limits);
      this.request(SUBSCRIBE, packetId, packet, subscriptions.map((s) => s.filter), op, now);
    } catch (e) {
      this.reject(op, e);
    }
    return this.flush();
  }

  unsubscribe(filters: string[], op: number, now: number): Action[] {
    try {
      if (!filters.length) throw new MqttProtocolError("no topic filters", PROTOCOL_ERROR);
      for (const f of filters) {
        if (typeof f !== "string" || !isValidFilter(f)) throw new MqttProtocolError(`invalid topic filter "${f}"`, 0x8f);
      }
      this.checkRoom();
      const packetId = this.allocId();
      const packet = encode({ type: UNSUBSCRIBE, packetId, filters }, this.version, this.limits);
      this.request(UNSUBSCRIBE, packetId, packet, filters, op, now);
    } catch (e) {
      this.reject(op, e);
    }
    return this.flush();
  }

  /** Orderly close: DISCONNECT (Normal; the server discards the Will), then close. */
  disconnect(now: number, reasonCode = 0): Action[] {
    if (this.state !== IDLE) {
      this.send(encode({ type: DISCONNECT, reasonCode }, this.version), now);
      this.state = IDLE;
      this.out.push({ type: "close", error: null });
    }
    return this.flush();
  }

  /**
   * The transport closed or failed (`why` describes it). Emits a close action
   * unless the session had already closed. Unacknowledged work stays for the next open().
   */
  lost(now: number, why = "connection lost"): Action[] {
    if (this.state !== IDLE) {
      const cut = this.reader.partial;
      this.state = IDLE;
      this.out.push({
        type: "close",
        error: cut ? new MqttProtocolError(`${why} in the middle of a packet (truncated stream)`, MALFORMED) : new MqttProtocolError(why, 0x80),
      });
    }
    return this.flush();
  }

  /** Rejects every request still waiting (the client gives up). Stored packets stay in the store. */
  abort(error: MqttProtocolError, now: number): Action[] {
    this.inflight.forEach((e) => {
      if (e.op !== NO_OP) this.out.push({ type: "reject", op: e.op, error });
      e.op = NO_OP;
    });
    this.pending.forEach((p) => this.out.push({ type: "reject", op: p.op, error }));
    this.pending.clear();
    for (const q of this.qos0) this.out.push({ type: "reject", op: q.op, error });
    this.qos0.length = 0;
    return this.flush();
  }

  // ------------------------------------------------------------ inbound

  private handle(p: Packet, now: number): void {
    const v5 = this.version === 5;
    if (this.state === CONNECTING && p.type !== CONNACK) {
      throw new MqttProtocolError(`${PACKET_NAMES[p.type]} received before CONNACK`, PROTOCOL_ERROR);
    }
    switch (p.type) {
      case CONNACK: {
        if (this.state !== CONNECTING) throw new MqttProtocolError("second CONNACK on one connection", PROTOCOL_ERROR);
        const code = p.reasonCode;
        if (code !== 0) {
          const text = v5 ? reasonName(code) : V4_REFUSALS[code];
          const why = p.properties && p.properties.reasonString ? `: ${p.properties.reasonString}` : "";
          this.fail(new MqttProtocolError(`connection refused: ${text}${why}`, v5 ? code : V4_TO_V5[code]), now, false);
          return;
        }
        if (p.sessionPresent && this.opts.clean) {
          throw new MqttProtocolError("CONNACK says session present after a clean start", PROTOCOL_ERROR);
        }
        const pr = p.properties || {};
        const s = this.defaults();
        s.sessionPresent = p.sessionPresent;
        if (pr.assignedClientIdentifier !== undefined) s.clientId = this.clientId = pr.assignedClientIdentifier;
        if (pr.serverKeepAlive !== undefined) s.keepAlive = this.keepAlive = pr.serverKeepAlive;
        if (pr.receiveMaximum !== undefined) s.receiveMaximum = pr.receiveMaximum;
        if (pr.maximumPacketSize !== undefined) s.maximumPacketSize = pr.maximumPacketSize;
        if (pr.topicAliasMaximum !== undefined && this.opts.topicAliases !== false) {
          s.topicAliasMaximum = Math.min(pr.topicAliasMaximum, this.limits.topicAliasMaximum);
        }
        if (pr.maximumQoS !== undefined) s.maximumQoS = pr.maximumQoS as QoS;
        if (pr.retainAvailable !== undefined) s.retainAvailable = pr.retainAvailable === 1;
        if (p.properties) s.properties = p.properties;
        this.server = s;
        if (!p.sessionPresent) this.qos2In.clear();
        this.state = CONNECTED;
        this.connackAt = -1;
        this.out.push({ type: "connected", info: s });
        this.pump(now);
        return;
      }
      case PUBLISH:
        this.onPublish(p, now);
        return;
      case PUBACK: case PUBREC: {
        const e = this.inflight.get(p.packetId);
        const want = p.type === PUBACK ? 1 : 2;
        if (!e || e.state !== 1 || e.qos !== want) {
          throw new MqttProtocolError(`${PACKET_NAMES[p.type]} for packet ${p.packetId}, which awaits no ${PACKET_NAMES[p.type]}`, PROTOCOL_ERROR);
        }
        if (p.type === PUBREC && p.reasonCode < 0x80) {
          e.state = 2;
          e.packet = null;
          e.topic = undefined;
          this.store.put({ packetId: e.packetId, state: 2, packet: null });
          this.send(encode({ type: PUBREL, packetId: e.packetId, reasonCode: 0 }, this.version), now);
          return;
        }
        this.release(e, p.reasonCode, p.properties, now);
        return;
      }
      case PUBCOMP: {
        const e = this.inflight.get(p.packetId);
        if (!e || e.state !== 2) throw new MqttProtocolError(`PUBCOMP for packet ${p.packetId}, which awaits no PUBCOMP`, PROTOCOL_ERROR);
        // 0x92 (not found): the server had already completed it; the message was delivered.
        this.release(e, p.reasonCode === 0x92 ? 0 : p.reasonCode, p.properties, now);
        return;
      }
      case PUBREL: {
        const known = this.qos2In.delete(p.packetId);
        this.send(encode({ type: PUBCOMP, packetId: p.packetId, reasonCode: known || !v5 ? 0 : 0x92 }, this.version), now);
        return;
      }
      case SUBACK: case UNSUBACK: {
        const r = this.pending.get(p.packetId);
        const want = p.type === SUBACK ? SUBSCRIBE : UNSUBSCRIBE;
        if (!r || r.type !== want) throw new MqttProtocolError(`${PACKET_NAMES[p.type]} for packet ${p.packetId}, which awaits none`, PROTOCOL_ERROR);
        const codes = p.reasonCodes;
        if ((p.type === SUBACK || v5) && codes.length !== r.filters.length) {
          throw new MqttProtocolError(`${PACKET_NAMES[p.type]} has ${codes.length} reason codes for ${r.filters.length} topic filters`, PROTOCOL_ERROR);
        }
        this.pending.delete(p.packetId);
        if (p.type === SUBACK) {
          const results: SubscribeOutcome[] = [];
          for (let i = 0; i < codes.length; i++) {
            results.push(codes[i] < 0x80 ? { filter: r.filters[i], granted: codes[i] as QoS } : { filter: r.filters[i], reasonCode: codes[i] });
          }
          this.resolve(r.op, results);
        } else {
          const bad = codes.findIndex((c) => c >= 0x80);
          if (bad >= 0) this.reject(r.op, new MqttProtocolError(`unsubscribe "${r.filters[bad]}" failed: ${reasonName(codes[bad])}`, codes[bad]));
          else this.resolve(r.op, codes);
        }
        this.pump(now);
        return;
      }
      case PINGRESP:
        this.pingAt = -1;
        return;
      case DISCONNECT: {
        if (!v5) throw new MqttProtocolError("DISCONNECT from the server is not allowed in MQTT 3.1.1", PROTOCOL_ERROR);
        const pr = p.properties;
        let msg = `server disconnected: ${reasonName(p.reasonCode)}`;
        if (pr && pr.reasonString) msg += `: ${pr.reasonString}`;
        if (pr && pr.serverReference) msg += ` (use server ${pr.serverReference})`;
        this.fail(new MqttProtocolError(msg, p.reasonCode), now, false);
        return;
      }
      case AUTH:
        throw new MqttProtocolError("AUTH received, but enhanced authentication was not requested", PROTOCOL_ERROR);
      default:
        throw new MqttProtocolError(`a server must not send ${PACKET_NAMES[p.type]}`, PROTOCOL_ERROR);
    }
  }

  private onPublish(p: PublishPacket, now: number): void {
    let topic = p.topic;
    const props = p.properties;
    if (this.version === 5) {
      const alias = props && props.topicAlias;
      if (alias !== undefined) {
        if (alias === 0 || alias > this.limits.topicAliasMaximum) {
          throw new MqttProtocolError(`topic alias ${alias} outside 1..${this.limits.topicAliasMaximum}`, TOPIC_ALIAS_INVALID);
        }
        if (topic) this.aliasesIn[alias] = topic;
        else {
          const t = this.aliasesIn[alias];
          if (t === undefined) throw new MqttProtocolError(`topic alias ${alias} used before it was set`, PROTOCOL_ERROR);
          topic = t;
        }
      } else if (!topic) throw new MqttProtocolError("PUBLISH with an empty topic and no topic alias", PROTOCOL_ERROR);
    }
    if (p.qos === 2) {
      if (!this.qos2In.has(p.packetId)) {
        if (this.qos2In.size >= this.limits.receiveMaximum) {
          throw new MqttProtocolError(`more than ${this.limits.receiveMaximum} QoS 2 messages awaiting PUBREL`, RECEIVE_MAXIMUM_EXCEEDED);
        }
        this.qos2In.add(p.packetId);
        this.deliver(p, topic);
      }
      this.send(encode({ type: PUBREC, packetId: p.packetId, reasonCode: 0 }, this.version), now);
      return;
    }
    this.deliver(p, topic);
    if (p.qos === 1) this.send(encode({ type: PUBACK, packetId: p.packetId, reasonCode: 0 }, this.version), now);
  }

  private deliver(p: PublishPacket, topic: string): void {
    this.out.push({ type: "message", topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup, properties: p.properties || {} });
  }

  // ------------------------------------------------------------ outbound

  /** Sends what flow control allows: QoS 0 first-come, then queued QoS 1/2 up to the in-flight cap. */
  private pump(now: number): void {
    if (this.state === IDLE) return;
    while (this.qos0.length) {
      const q = this.qos0.shift() as Qos0;
      try {
        this.checkServer(0, q.retain, now);
        this.sendPublish({ type: PUBLISH, topic: q.topic, payload: q.payload, qos: 0, retain: q.retain, dup: false, packetId: 0, properties: q.properties }, null, now);
        this.resolve(q.op);
      } catch (e) {
        this.reject(q.op, e);
      }
    }
    const cap = this.state === CONNECTED
      ? Math.min(this.limits.maxInflight, this.server.receiveMaximum)
      : Math.min(this.limits.maxInflight, this.limits.maxPipelined);
    if (this.sent >= cap) return;
    this.inflight.forEach((e) => {
      if (e.state !== 0 || this.sent >= cap || !e.packet) return;
      const packet = e.packet;
      try {
        this.checkServer(e.qos, (packet[0] & 1) === 1, now, packet.length);
      } catch (err) {
        this.inflight.delete(e.packetId);
        this.store.remove(e.packetId);
        this.reject(e.op, err);
        return;
      }
      e.state = 1;
      this.sent++;
      this.store.put({ packetId: e.packetId, state: 1, packet });
      if (e.topic !== undefined && this.server.topicAliasMaximum > 0 && this.version === 5) this.sendAliased(e.topic, packet, now);
      else this.send(packet, now);
      e.topic = undefined;
    });
  }

  /** Limits the server set in CONNACK (known only once connected). */
  private checkServer(qos: QoS, retain: boolean, now: number, size = 0): void {
    if (this.state !== CONNECTED) return;
    const s = this.server;
    if (qos > s.maximumQoS) throw new MqttProtocolError(`server accepts QoS up to ${s.maximumQoS}`, 0x9b);
    if (retain && !s.retainAvailable) throw new MqttProtocolError("server does not support retained messages", 0x9a);
    if (size > s.maximumPacketSize) throw new MqttProtocolError(`PUBLISH of ${size} bytes exceeds the server's maximum packet size ${s.maximumPacketSize}`, PACKET_TOO_LARGE);
  }

  /**
   * Sends our own encoded v5 PUBLISH with an outbound topic alias when one is
   * set or can be: the alias property is spliced into the bytes (no decode and
   * re-encode). The stored packet keeps its full topic for resends.
   */
  private sendAliased(topic: string, packet: Uint8Array, now: number): void {
    let alias = this.aliasesOut.get(topic);
    const known = alias !== undefined;
    if (!known && this.aliasesOut.size < this.server.topicAliasMaximum) {
      alias = this.aliasesOut.size + 1;
      this.aliasesOut.set(topic, alias);
    }
    const out = alias === undefined ? null : withTopicAlias(packet, alias, known);
    if (out && out.length <= this.server.maximumPacketSize) this.send(out, now);
    else this.send(packet, now);
  }

  /** Sends a PUBLISH, replacing its topic by an alias when allowed. `encoded` is its plain encoding if known. */
  private sendPublish(p: PublishPacket, encoded: Uint8Array | null, now: number): void {
    const limits = { ...this.limits, maxPacketSize: this.state === CONNECTED ? this.server.maximumPacketSize : 268435460 };
    const max = this.state === CONNECTED ? this.server.topicAliasMaximum : 0;
    if (max > 0 && this.version === 5) {
      let alias = this.aliasesOut.get(p.topic);
      const props: Properties = { ...p.properties };
      if (alias !== undefined) {
        props.topicAlias = alias;
        p = { ...p, topic: "", properties: props };
      } else if (this.aliasesOut.size < max) {
        alias = this.aliasesOut.size + 1;
        this.aliasesOut.set(p.topic, alias);
        props.topicAlias = alias;
        p = { ...p, properties: props };
      }
      if (alias !== undefined) encoded = null;
    }
    this.send(encoded || encode(p, this.version, limits), now);
  }

  private request(type: 8 | 10, packetId: number, packet: Uint8Array, filters: string[], op: number, now: number): void {
    this.pending.set(packetId, { type, packet, filters, op });
    if (this.state !== IDLE) this.send(packet, now);
  }

  private release(e: Outgoing, code: number, props: Properties | undefined, now: number): void {
    this.inflight.delete(e.packetId);
    this.store.remove(e.packetId);
    this.sent--;
    if (code >= 0x80) {
      const why = props && props.reasonString ? `: ${props.reasonString}` : "";
      this.reject(e.op, new MqttProtocolError(`publish refused: ${reasonName(code)}${why}`, code));
    } else this.resolve(e.op);
    this.pump(now);
  }

  // ------------------------------------------------------------ helpers

  private connectPacket(): Uint8Array {
    const o = this.opts;
    const v5 = this.version === 5;
    let properties: Properties | undefined;
    if (v5) {
      properties = { ...o.connectProperties };
      const expiry = o.expiry ?? (o.clean ? 0 : 604800);
      if (expiry) properties.sessionExpiryInterval = expiry;
      if (this.limits.receiveMaximum !== 65535) properties.receiveMaximum = this.limits.receiveMaximum;
      properties.maximumPacketSize = this.limits.maxPacketSize;
      if (this.limits.topicAliasMaximum) properties.topicAliasMaximum = this.limits.topicAliasMaximum;
    }
    const w = o.will;
    let will: Will | undefined;
    if (w) {
      let wp = v5 ? w.properties : undefined;
      if (v5 && w.delay) wp = { ...wp, willDelayInterval: w.delay };
      will = { topic: w.topic, payload: w.payload, qos: w.qos || 0, retain: !!w.retain, properties: wp };
    }
    // A persistent session resumes with the client id the server assigned.
    return encode({
      type: CONNECT, protocolVersion: this.version, clientId: this.clientId, clean: o.clean,
      keepAlive: o.keepAlive, username: o.username, password: o.password, will, properties,
    }, this.version);
  }

  private send(bytes: Uint8Array, now: number): void {
    this.lastSend = now;
    this.out.push({ type: "send", bytes });
  }

  private resolve(op: number, value?: SubscribeOutcome[] | number[]): void {
    if (op !== NO_OP) this.out.push({ type: "resolve", op, value });
  }

  private reject(op: number, e: unknown): void {
    const error = e instanceof MqttProtocolError ? e : new MqttProtocolError(String(e), 0x83);
    if (op !== NO_OP) this.out.push({ type: "reject", op, error });
  }

  /** Closes for a fault: DISCONNECT with the reason on MQTT 5 (when `tell`), then close. */
  private fail(e: MqttProtocolError, now: number, tell = true): void {
    if (this.state === IDLE) return;
    if (tell && this.version === 5) {
      this.send(encode({ type: DISCONNECT, reasonCode: e.reasonCode >= 0x80 ? e.reasonCode : MALFORMED }, 5), now);
    }
    this.state = IDLE;
    this.out.push({ type: "close", error: e });
  }

  private checkRoom(): void {
    if (this.inflight.size + this.pending.size + this.qos0.length >= this.limits.maxQueued) {
      throw new MqttProtocolError(`more than ${this.limits.maxQueued} operations queued`, 0x97);
    }
  }

  private allocId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      if (!this.inflight.has(id) && !this.pending.has(id)) return id;
    }
    throw new MqttProtocolError("no free packet identifier", 0x91);
  }

  private pingTimeout(): number {
    return this.opts.pingTimeoutMs ?? Math.min(10000, this.keepAlive * 1000);
  }

  private pingDue(): number {
    return Math.min(this.lastSend, this.lastRecv) + this.keepAlive * 1000;
  }

  private defaults(): ConnectInfo {
    return {
      sessionPresent: false, clientId: this.clientId, keepAlive: this.opts.keepAlive, receiveMaximum: 65535,
      maximumPacketSize: 268435460, topicAliasMaximum: 0, maximumQoS: 2, retainAvailable: true,
    };
  }

  private reset(): void {
    this.reader.reset();
    this.keepAlive = this.opts.keepAlive;
    this.server = this.defaults();
    this.pingAt = -1;
    this.sent = 0;
    this.aliasesIn = [];
    this.aliasesOut.clear();
  }

  /** Returns the actions gathered, with a timer action when the next deadline moved. */
  private flush(): Action[] {
    let at = -1;
    if (this.state === CONNECTING) at = this.connackAt;
    else if (this.state === CONNECTED) {
      if (this.pingAt >= 0) at = this.pingAt;
      else if (this.keepAlive > 0) at = this.pingDue();
    }
    if (at !== this.timerAt) {
      this.timerAt = at;
      this.out.push({ type: "timer", at });
    }
    const out = this.out;
    this.out = [];
    return out;
  }
}

function readVarint(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  let x: number;
  do {
    x = b[at++];
    v += (x & 0x7f) * mul;
    mul *= 128;
  } while (x & 0x80 && mul <= 0x200000);
  return [v, at];
}

function writeVarint(b: Uint8Array, at: number, v: number): number {
  do {
    let x = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) x |= 0x80;
    b[at++] = x;
  } while (v > 0);
  return at;
}

/**
 * An MQTT 5 PUBLISH we encoded ourselves, rewritten with a Topic Alias property
 * (0x23) first in its properties and, when `dropTopic`, an empty topic name.
 * Returns null if the packet already carries properties too long to extend safely.
 */
export function withTopicAlias(packet: Uint8Array, alias: number, dropTopic: boolean): Uint8Array | null {
  const [, body] = readVarint(packet, 1);
  const tlen = (packet[body] << 8) | packet[body + 1];
  const topicEnd = body + 2 + tlen;
  const idEnd = topicEnd + (((packet[0] >> 1) & 3) ? 2 : 0);
  const [plen, propsAt] = readVarint(packet, idEnd);
  const rest = packet.length - (propsAt + plen);
  if (rest < 0 || plen > 0x1fff00) return null;
  const newPlen = plen + 3;
  const keepTopic = dropTopic ? 0 : tlen;
  const remaining = 2 + keepTopic + (idEnd - topicEnd) + varintSize(newPlen) + newPlen + rest;
  const out = new Uint8Array(1 + varintSize(remaining) + remaining);
  out[0] = packet[0];
  let o = writeVarint(out, 1, remaining);
  out[o++] = keepTopic >> 8;
  out[o++] = keepTopic & 0xff;
  if (keepTopic) {
    out.set(packet.subarray(body + 2, topicEnd), o);
    o += keepTopic;
  }
  out.set(packet.subarray(topicEnd, idEnd), o);
  o += idEnd - topicEnd;
  o = writeVarint(out, o, newPlen);
  out[o++] = 0x23;
  out[o++] = alias >> 8;
  out[o++] = alias & 0xff;
  out.set(packet.subarray(propsAt), o);
  return out;
}
