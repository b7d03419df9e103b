import { MqttProtocolError } from "./error";
import { Properties, readProperties, writeProperties, IN_WILL } from "./properties";
import { Reader, Writer, MAX_VARINT, checkUint, varintSize } from "./wire";
import { MALFORMED, PROTOCOL_ERROR, PACKET_TOO_LARGE, TOPIC_NAME_INVALID, utf8Length, utf8Write } from "./utf8";

// MQTT 3.1.1 (version 4) and 5.0 (version 5) control packets: encode to one
// exact-size Uint8Array, decode one whole frame. Every failure is an
// MqttProtocolError with a reason code.

export type { Properties } from "./properties";
export type QoS = 0 | 1 | 2;

export const CONNECT = 1, CONNACK = 2, PUBLISH = 3, PUBACK = 4, PUBREC = 5, PUBREL = 6, PUBCOMP = 7,
  SUBSCRIBE = 8, SUBACK = 9, UNSUBSCRIBE = 10, UNSUBACK = 11, PINGREQ = 12, PINGRESP = 13,
  DISCONNECT = 14, AUTH = 15;

export const PACKET_NAMES = ["reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
  "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"];

export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
}
export interface ConnectPacket {
  type: 1;
  protocolVersion: 4 | 5;
  clientId: string;
  /** cleanSession (3.1.1) / Clean Start (5). */
  clean: boolean;
  keepAlive: number;
  username?: string;
  password?: Uint8Array;
  will?: Will;
  properties?: Properties;
}
export interface ConnackPacket {
  type: 2;
  sessionPresent: boolean;
  /** 3.1.1 return code (0..5) or 5.0 reason code. */
  reasonCode: number;
  properties?: Properties;
}
export interface PublishPacket {
  type: 3;
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** 0 for QoS 0. */
  packetId: number;
  properties?: Properties;
}
/** PUBACK, PUBREC, PUBREL, PUBCOMP. */
export interface AckPacket {
  type: 4 | 5 | 6 | 7;
  packetId: number;
  reasonCode: number;
  properties?: Properties;
}
export interface Subscription {
  filter: string;
  qos: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
}
export interface SubscribePacket {
  type: 8;
  packetId: number;
  subscriptions: Subscription[];
  properties?: Properties;
}
export interface SubackPacket {
  type: 9;
  packetId: number;
  reasonCodes: number[];
  properties?: Properties;
}
export interface UnsubscribePacket {
  type: 10;
  packetId: number;
  filters: string[];
  properties?: Properties;
}
export interface UnsubackPacket {
  type: 11;
  packetId: number;
  /** Empty on 3.1.1. */
  reasonCodes: number[];
  properties?: Properties;
}
export interface PingPacket {
  type: 12 | 13;
}
export interface DisconnectPacket {
  type: 14;
  reasonCode: number;
  properties?: Properties;
}
export interface AuthPacket {
  type: 15;
  reasonCode: number;
  properties?: Properties;
}
export type Packet = ConnectPacket | ConnackPacket | PublishPacket | AckPacket | SubscribePacket | SubackPacket |
  UnsubscribePacket | UnsubackPacket | PingPacket | DisconnectPacket | AuthPacket;

/** Caller-set bounds on what is decoded (and encoded). */
export interface MqttLimits {
  /** Most bytes in one packet, fixed header included (MQTT 5 Maximum Packet Size). */
  maxPacketSize: number;
  /** Most UTF-8 bytes in a topic name or topic filter. */
  maxTopicLength: number;
  /** Most properties in one property block. */
  maxProperties: number;
}

export const DEFAULT_LIMITS: Readonly<MqttLimits> = Object.freeze({
  maxPacketSize: 65536,
  maxTopicLength: 256,
  maxProperties: 32,
});

// ---------------------------------------------------------------- encode

/**
 * Encodes one packet for protocol `version`. Throws MqttProtocolError when a
 * field is out of range or the packet exceeds limits.maxPacketSize.
 */
export function encode(packet: Packet, version: 4 | 5, limits: MqttLimits = DEFAULT_LIMITS): Uint8Array {
  if (packet.type === PUBLISH && (version === 4 || !packet.properties)) return encodePublish(packet, version, limits);
  const m = new Writer(null, 0);
  body(m, packet, version, limits);
  const len = m.p;
  if (len > MAX_VARINT) throw new MqttProtocolError(`${PACKET_NAMES[packet.type]} is too large to encode`, PACKET_TOO_LARGE);
  const size = 1 + varintSize(len) + len;
  if (size > limits.maxPacketSize) {
    throw new MqttProtocolError(`${PACKET_NAMES[packet.type]} of ${size} bytes exceeds maximum packet size ${limits.maxPacketSize}`, PACKET_TOO_LARGE);
  }
  const out = new Uint8Array(size);
  const w = new Writer(out, 0);
  w.u8(firstByte(packet));
  w.varint(len);
  body(w, packet, version, limits);
  return out;
}

/**
 * The hot path: a PUBLISH without properties, measured and written in one
 * pass (the topic's UTF-8 length computed once). Same checks and bytes as the
 * general path.
 */
function encodePublish(p: PublishPacket, version: 4 | 5, limits: MqttLimits): Uint8Array {
  const first = firstByte(p);
  const topic = p.topic;
  if (typeof topic !== "string") throw new MqttProtocolError("topic name must be a string", MALFORMED);
  const tlen = utf8Length(topic);
  if (tlen > limits.maxTopicLength) throw new MqttProtocolError(`topic name is ${tlen} bytes, limit ${limits.maxTopicLength}`, TOPIC_NAME_INVALID);
  if (tlen > 65535) throw new MqttProtocolError("topic name is longer than 65535 bytes", MALFORMED);
  const qos = first & 6;
  if (qos && checkUint(p.packetId, 65535, "packet identifier") === 0) throw new MqttProtocolError("packet identifier must not be 0", MALFORMED);
  const payload = p.payload;
  const len = 2 + tlen + (qos ? 2 : 0) + (version === 5 ? 1 : 0) + payload.length;
  if (len > MAX_VARINT) throw new MqttProtocolError("PUBLISH is too large to encode", PACKET_TOO_LARGE);
  const size = 1 + varintSize(len) + len;
  if (size > limits.maxPacketSize) throw new MqttProtocolError(`PUBLISH of ${size} bytes exceeds maximum packet size ${limits.maxPacketSize}`, PACKET_TOO_LARGE);
  const out = new Uint8Array(size);
  out[0] = first;
  let o = 1;
  let v = len;
  do {
    let c = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) c |= 0x80;
    out[o++] = c;
  } while (v > 0);
  out[o++] = tlen >> 8;
  out[o++] = tlen & 0xff;
  o = utf8Write(topic, out, o);
  if (qos) {
    out[o++] = p.packetId >> 8;
    out[o++] = p.packetId & 0xff;
  }
  if (version === 5) out[o++] = 0; // no properties
  out.set(payload, o);
  return out;
}

function firstByte(p: Packet): number {
  const t = p.type;
  if (t === PUBLISH) {
    const q = checkUint(p.qos, 2, "PUBLISH qos");
    if (p.dup && q === 0) throw new MqttProtocolError("PUBLISH with QoS 0 must not set DUP", MALFORMED);
    return 0x30 | (p.dup ? 8 : 0) | (q << 1) | (p.retain ? 1 : 0);
  }
  if (t === PUBREL || t === SUBSCRIBE || t === UNSUBSCRIBE) return (t << 4) | 2;
  return t << 4;
}

function packetId(w: Writer, id: number): void {
  if (checkUint(id, 65535, "packet identifier") === 0) throw new MqttProtocolError("packet identifier must not be 0", MALFORMED);
  w.u16(id);
}

function topicOut(w: Writer, s: string, what: string, limits: MqttLimits): void {
  if (typeof s !== "string") throw new MqttProtocolError(`${what} must be a string`, MALFORMED);
  const n = utf8Length(s);
  if (n > limits.maxTopicLength) throw new MqttProtocolError(`${what} is ${n} bytes, limit ${limits.maxTopicLength}`, TOPIC_NAME_INVALID);
  w.str(s, what);
}

function reason(w: Writer, code: number): void {
  w.u8(checkUint(code, 255, "reason code"));
}

function body(w: Writer, p: Packet, v: 4 | 5, limits: MqttLimits): void {
  const v5 = v === 5;
  switch (p.type) {
    case CONNECT: {
      w.str("MQTT", "protocol name");
      w.u8(v);
      const will = p.will;
      let flags = p.clean ? 2 : 0;
      if (will) flags |= 4 | (checkUint(will.qos, 2, "will qos") << 3) | (will.retain ? 0x20 : 0);
      if (p.password !== undefined) {
        if (!v5 && p.username === undefined) throw new MqttProtocolError("MQTT 3.1.1 needs a username to send a password", MALFORMED);
        flags |= 0x40;
      }
      if (p.username !== undefined) flags |= 0x80;
      w.u8(flags);
      w.u16(checkUint(p.keepAlive, 65535, "keepAlive"));
      if (v5) writeProperties(w, p.properties, CONNECT);
      w.str(p.clientId, "client identifier");
      if (will) {
        if (v5) writeProperties(w, will.properties, IN_WILL);
        topicOut(w, will.topic, "will topic", limits);
        w.bytes(will.payload, "will payload");
      }
      if (p.username !== undefined) w.str(p.username, "username");
      if (p.password !== undefined) w.bytes(p.password, "password");
      return;
    }
    case CONNACK:
      w.u8(p.sessionPresent ? 1 : 0);
      reason(w, p.reasonCode);
      if (v5) writeProperties(w, p.properties, CONNACK);
      return;
    case PUBLISH:
      topicOut(w, p.topic, "topic name", limits);
      if (p.qos) packetId(w, p.packetId);
      if (v5) writeProperties(w, p.properties, PUBLISH);
      w.raw(p.payload);
      return;
    case PUBACK: case PUBREC: case PUBREL: case PUBCOMP:
      packetId(w, p.packetId);
      // Shortest form (MQTT 5 3.4.2.1): reason and properties omitted when Success and none.
      if (v5 && (p.reasonCode || p.properties)) {
        reason(w, p.reasonCode);
        if (p.properties) writeProperties(w, p.properties, p.type);
      }
      return;
    case SUBSCRIBE: {
      packetId(w, p.packetId);
      if (v5) writeProperties(w, p.properties, SUBSCRIBE);
      const subs = p.subscriptions;
      if (!subs.length) throw new MqttProtocolError("SUBSCRIBE needs at least one topic filter", PROTOCOL_ERROR);
      for (const s of subs) {
        topicOut(w, s.filter, "topic filter", limits);
        let o = checkUint(s.qos, 2, "subscription qos");
        if (v5) {
          o |= (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | (checkUint(s.retainHandling || 0, 2, "retainHandling") << 4);
        }
        w.u8(o);
      }
      return;
    }
    case SUBACK: case UNSUBACK:
      packetId(w, p.packetId);
      if (v5) writeProperties(w, p.properties, p.type);
      if (p.type === SUBACK || v5) for (const c of p.reasonCodes) reason(w, c);
      return;
    case UNSUBSCRIBE:
      packetId(w, p.packetId);
      if (v5) writeProperties(w, p.properties, UNSUBSCRIBE);
      if (!p.filters.length) throw new MqttProtocolError("UNSUBSCRIBE needs at least one topic filter", PROTOCOL_ERROR);
      for (const f of p.filters) topicOut(w, f, "topic filter", limits);
      return;
    case PINGREQ: case PINGRESP:
      return;
    case DISCONNECT: case AUTH:
      if (!v5) {
        if (p.type === AUTH) throw new MqttProtocolError("AUTH does not exist in MQTT 3.1.1", PROTOCOL_ERROR);
        return;
      }
      if (p.reasonCode || p.properties) {
        reason(w, p.reasonCode);
        // DISCONNECT may omit an empty property block (3.14.2.2.1); AUTH has no such rule.
        if (p.properties || p.type === AUTH) writeProperties(w, p.properties, p.type);
      }
      return;
    default:
      throw new MqttProtocolError(`cannot encode packet type ${(p as { type: unknown }).type}`, MALFORMED);
  }
}

// ---------------------------------------------------------------- decode

/**
 * Decodes one whole packet (fixed header included) received on a `version`
 * connection. A CONNECT carries its own version and is decoded by it.
 */
export function decode(frame: Uint8Array, version: 4 | 5, limits: MqttLimits = DEFAULT_LIMITS): Packet {
  if (frame.length > limits.maxPacketSize) {
    throw new MqttProtocolError(`packet of ${frame.length} bytes exceeds maximum packet size ${limits.maxPacketSize}`, PACKET_TOO_LARGE);
  }
  const r = new Reader(frame, 0, frame.length);
  const b0 = r.u8("fixed header");
  const len = r.varint("remaining length");
  if (r.p + len !== frame.length) {
    throw new MqttProtocolError(`remaining length ${len} does not match the ${frame.length - r.p} bytes that follow`, MALFORMED);
  }
  const type = b0 >> 4, flags = b0 & 15;
  const name = PACKET_NAMES[type];
  if (type === PUBLISH) {
    if ((flags & 6) === 6) throw new MqttProtocolError("PUBLISH with QoS 3", MALFORMED);
  } else if (flags !== (type === PUBREL || type === SUBSCRIBE || type === UNSUBSCRIBE ? 2 : 0)) {
    throw new MqttProtocolError(`${name} has reserved flags 0x${flags.toString(16)}`, MALFORMED);
  }
  let p: Packet;
  switch (type) {
    case CONNECT: p = decodeConnect(r, limits); break;
    case CONNACK: {
      const ack = r.u8("CONNACK flags");
      if (ack > 1) throw new MqttProtocolError("CONNACK has reserved acknowledge flags", MALFORMED);
      const code = r.u8("CONNACK reason code");
      if (ack && code) throw new MqttProtocolError("CONNACK refusal with session present", MALFORMED);
      if (version === 4 && code > 5) throw new MqttProtocolError(`CONNACK return code ${code} is not defined in 3.1.1`, MALFORMED);
      p = { type, sessionPresent: ack === 1, reasonCode: code, properties: version === 5 ? readProperties(r, CONNACK, limits.maxProperties) : undefined };
      break;
    }
    case PUBLISH: {
      const qos = ((flags >> 1) & 3) as QoS;
      const dup = (flags & 8) !== 0;
      if (dup && !qos) throw new MqttProtocolError("PUBLISH with QoS 0 has DUP set", MALFORMED);
      const topic = topicIn(r, "topic name", limits);
      if (topic.indexOf("+") >= 0 || topic.indexOf("#") >= 0) {
        throw new MqttProtocolError(`topic name "${topic}" contains a wildcard`, TOPIC_NAME_INVALID);
      }
      if (!topic && version === 4) throw new MqttProtocolError("empty topic name", TOPIC_NAME_INVALID);
      const id = qos ? readId(r, name) : 0;
      const properties = version === 5 ? readProperties(r, PUBLISH, limits.maxProperties) : undefined;
      p = { type, topic, payload: frame.subarray(r.p), qos, retain: (flags & 1) !== 0, dup, packetId: id, properties };
      r.p = r.end;
      break;
    }
    case PUBACK: case PUBREC: case PUBREL: case PUBCOMP: {
      const id = readId(r, name);
      let code = 0;
      let properties: Properties | undefined;
      if (version === 5 && r.p < r.end) {
        code = r.u8("reason code");
        if (r.p < r.end) properties = readProperties(r, type, limits.maxProperties);
      }
      p = { type, packetId: id, reasonCode: code, properties };
      break;
    }
    case SUBSCRIBE: {
      const id = readId(r, name);
      const properties = version === 5 ? readProperties(r, SUBSCRIBE, limits.maxProperties) : undefined;
      const subscriptions: Subscription[] = [];
      do {
        const filter = topicIn(r, "topic filter", limits);
        const o = r.u8("subscription options");
        const qos = o & 3;
        if (qos === 3) throw new MqttProtocolError("subscription with QoS 3", MALFORMED);
        if (version === 4) {
          if (o & 0xfc) throw new MqttProtocolError("SUBSCRIBE reserved option bits set", MALFORMED);
          subscriptions.push({ filter, qos: qos as QoS });
        } else {
          const rh = (o >> 4) & 3;
          if (o & 0xc0 || rh === 3) throw new MqttProtocolError("SUBSCRIBE reserved option bits set", MALFORMED);
          subscriptions.push({ filter, qos: qos as QoS, noLocal: (o & 4) !== 0, retainAsPublished: (o & 8) !== 0, retainHandling: rh as 0 | 1 | 2 });
        }
      } while (r.p < r.end);
      p = { type, packetId: id, subscriptions, properties };
      break;
    }
    case SUBACK: case UNSUBACK: {
      const id = readId(r, name);
      const properties = version === 5 ? readProperties(r, type, limits.maxProperties) : undefined;
      const codes: number[] = [];
      // A 3.1.1 UNSUBACK has no payload: trailing bytes are rejected below.
      if (type === SUBACK || version === 5) while (r.p < r.end) {
        const c = r.u8("reason code");
        if (version === 4 && c > 2 && c !== 0x80) throw new MqttProtocolError(`SUBACK return code 0x${c.toString(16)} is not defined in 3.1.1`, MALFORMED);
        codes.push(c);
      }
      if (type === SUBACK || version === 5) {
        if (!codes.length) throw new MqttProtocolError(`${name} has no reason codes`, PROTOCOL_ERROR);
      }
      p = { type, packetId: id, reasonCodes: codes, properties };
      break;
    }
    case UNSUBSCRIBE: {
      const id = readId(r, name);
      const properties = version === 5 ? readProperties(r, UNSUBSCRIBE, limits.maxProperties) : undefined;
      const filters: string[] = [];
      do filters.push(topicIn(r, "topic filter", limits));
      while (r.p < r.end);
      p = { type, packetId: id, filters, properties };
      break;
    }
    case PINGREQ: case PINGRESP:
      p = { type };
      break;
    case DISCONNECT: case AUTH: {
      if (version === 4 && type === AUTH) throw new MqttProtocolError("AUTH packet on an MQTT 3.1.1 connection", MALFORMED);
      let code = 0;
      let properties: Properties | undefined;
      if (version === 5 && r.p < r.end) {
        code = r.u8("reason code");
        if (r.p < r.end) properties = readProperties(r, type, limits.maxProperties);
      }
      p = { type, reasonCode: code, properties } as DisconnectPacket | AuthPacket;
      break;
    }
    default:
      throw new MqttProtocolError(`reserved packet type ${type}`, MALFORMED);
  }
  if (r.p !== r.end) throw new MqttProtocolError(`${name} has ${r.end - r.p} unexpected trailing bytes`, MALFORMED);
  if ("properties" in p && !p.properties) delete p.properties;
  return p;
}

function readId(r: Reader, name: string): number {
  const id = r.u16("packet identifier");
  if (!id) throw new MqttProtocolError(`${name} with packet identifier 0`, MALFORMED);
  return id;
}

function topicIn(r: Reader, what: string, limits: MqttLimits): string {
  const n = r.u16(what);
  r.p -= 2;
  if (n > limits.maxTopicLength) throw new MqttProtocolError(`${what} is ${n} bytes, limit ${limits.maxTopicLength}`, TOPIC_NAME_INVALID);
  return r.str(what);
}

function decodeConnect(r: Reader, limits: MqttLimits): ConnectPacket {
  const proto = r.str("protocol name", 6);
  const level = r.u8("protocol level");
  if (proto !== "MQTT" || (level !== 4 && level !== 5)) {
    throw new MqttProtocolError(`unsupported protocol ${proto} level ${level}`, 0x84);
  }
  const v5 = level === 5;
  const flags = r.u8("connect flags");
  if (flags & 1) throw new MqttProtocolError("CONNECT reserved flag set", MALFORMED);
  const hasWill = (flags & 4) !== 0;
  const wqos = (flags >> 3) & 3;
  if (wqos === 3) throw new MqttProtocolError("will QoS 3", MALFORMED);
  if (!hasWill && (flags & 0x38)) throw new MqttProtocolError("will QoS or retain set without a will", MALFORMED);
  if (!v5 && (flags & 0x40) && !(flags & 0x80)) throw new MqttProtocolError("password flag without username flag", MALFORMED);
  const keepAlive = r.u16("keep alive");
  const properties = v5 ? readProperties(r, CONNECT, limits.maxProperties) : undefined;
  const p: ConnectPacket = { type: 1, protocolVersion: level, clientId: r.str("client identifier"), clean: (flags & 2) !== 0, keepAlive };
  if (properties) p.properties = properties;
  if (hasWill) {
    const wp = v5 ? readProperties(r, IN_WILL, limits.maxProperties) : undefined;
    const topic = topicIn(r, "will topic", limits);
    if (!topic || topic.indexOf("+") >= 0 || topic.indexOf("#") >= 0) throw new MqttProtocolError(`will topic "${topic}" is not a valid topic name`, TOPIC_NAME_INVALID);
    const will: Will = { topic, payload: r.bytes("will payload"), qos: wqos as QoS, retain: (flags & 0x20) !== 0 };
    if (wp) will.properties = wp;
    p.will = will;
  }
  if (flags & 0x80) p.username = r.str("username");
  if (flags & 0x40) p.password = r.bytes("password");
  return p;
}
