import { MqttProtocolError } from "./error";
import { reasonName } from "./reasons";
import { utf8Decode } from "../text/utf8";
import { putStr, putVarint, strSize, varintSize, type ConnectInfo, type Session, type V5 } from "./session";
import type { Properties } from "./properties";
import type { QoS } from "./types";

// MQTT 5 for the session (./session's V5): property blocks read and written
// (MQTT 2.2.2), CONNACK grants, topic aliases both ways, reason code names.
// Only the full client (./client) loads it; ./client311 never does.

// Value kinds.
// A const enum: tsc writes the numbers in place (module-level consts cost XS bytecode).
const enum K { BYTE01 = 0, U16 = 1, U32 = 2, VARINT = 3, STR = 4, BIN = 5, PAIR = 6 }
// Where a property may appear ("where" below): bit n = packet type n, bit 0 = Will
// properties; e.g. PUBLISH|Will = 0x9, CONNACK = 0x4, the acknowledgements
// (CONNACK, PUBACK..PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH) = 0xcbf4, anywhere = 0xffff.

// The property table, [id, name, kind, where, must not be 0], ascending ids (also the
// encoding order), made at load from two strings: as 27 array literals it cost ~1 KB of
// bytecode. Per property three characters: id, kind (+8: must not be 0), where.
type Def = [number, keyof Properties, number, number, boolean];
const DEF_NAMES = "payloadFormatIndicator messageExpiryInterval contentType responseTopic correlationData subscriptionIdentifiers sessionExpiryInterval assignedClientIdentifier serverKeepAlive authenticationMethod authenticationData requestProblemInformation willDelayInterval requestResponseInformation responseInformation serverReference reasonString receiveMaximum topicAliasMaximum topicAlias maximumQoS retainAvailable userProperties maximumPacketSize wildcardSubscriptionAvailable subscriptionIdentifierAvailable sharedSubscriptionAvailable".split(" ");
const DEF_CODES = "\x01\x00\x09\x02\x02\x09\x03\x04\x09\x08\x04\x09\x09\x05\x09\x0b\x0b\u0108\x11\x02\u4006\x12\x04\x04\x13\x01\x04\x15\x04\u8006\x16\x05\u8006\x17\x00\x02\x18\x02\x01\x19\x00\x02\x1a\x04\x04\x1c\x04\u4004\x1f\x04\ucbf4\x21\x09\x06\x22\x01\x06\x23\x01\x08\x24\x00\x04\x25\x00\x04\x26\x06\uffff\x27\x0a\x06\x28\x00\x04\x29\x00\x04\x2a\x00\x04";
const DEFS: Def[] = [];
const BY_ID: (Def | undefined)[] = [];
for (let i = 0; i < DEF_NAMES.length; i++) {
  const k = DEF_CODES.charCodeAt(3 * i + 1);
  const d: Def = [DEF_CODES.charCodeAt(3 * i), DEF_NAMES[i] as keyof Properties, k & 7, DEF_CODES.charCodeAt(3 * i + 2), k > 7];
  DEFS.push(d);
  BY_ID[d[0]] = d;
}
const WHERE = "Will CONNECT CONNACK PUBLISH PUBACK PUBREC PUBREL PUBCOMP SUBSCRIBE SUBACK UNSUBSCRIBE UNSUBACK PINGREQ PINGRESP DISCONNECT AUTH".split(" ");
const EMPTY = Uint8Array.of(0);
const MAX = [1, 65535, 0xffffffff, 268435455];

function err(message: string, code = 0x81): MqttProtocolError {
  return new MqttProtocolError(message, code);
}

function read(s: Session, b: Uint8Array, end: number, type: number): Properties | undefined {
  let p = s.at;
  if (p < end && b[p] === 0) {
    // The common case: no properties.
    s.at = p + 1;
    return undefined;
  }
  const need = (n: number, what: string): void => {
    if (p + n > end) throw err(what + " too short");
  };
  const varint = (what: string): number => {
    let v = 0, mul = 1;
    for (let i = 0; i < 4; i++) {
      need(1, what);
      const c = b[p++];
      v += (c & 0x7f) * mul;
      if (!(c & 0x80)) {
        if (c === 0 && i > 0) throw err(what + " not minimal");
        return v;
      }
      mul *= 128;
    }
    throw err(what + " too long");
  };
  const u16 = (what: string): number => {
    need(2, what);
    p += 2;
    return (b[p - 2] << 8) | b[p - 1];
  };
  const str = (what: string): string => {
    const n = u16(what);
    need(n, what);
    p += n;
    return utf8Decode(b, p - n, p, true);
  };
  const len = varint("property length");
  need(len, "properties");
  const stop = p + len;
  if (!len) {
    s.at = p;
    return undefined;
  }
  const props: Properties = {};
  const bag = props as { [k: string]: unknown };
  const where = WHERE[type];
  const max = s.limits.maxProperties;
  let count = 0;
  while (p < stop) {
    if (++count > max) throw err("too many properties");
    const id = varint("property identifier");
    const d = id < BY_ID.length ? BY_ID[id] : undefined;
    if (!d) throw err("unknown property " + id);
    const name = d[1], kind = d[2];
    if (!(d[3] & (1 << type))) throw err(name + " not allowed in " + where);
    let v: unknown;
    if (kind === K.BYTE01) {
      need(1, name);
      v = b[p++];
      if ((v as number) > 1) throw err("bad " + name, 0x82);
    } else if (kind === K.U16) v = u16(name);
    else if (kind === K.U32) {
      need(4, name);
      v = b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
      p += 4;
    } else if (kind === K.VARINT) v = varint(name);
    else if (kind === K.STR) v = str(name);
    else if (kind === K.BIN) {
      const n = u16(name);
      need(n, name);
      v = b.subarray(p, p + n);
      p += n;
    } else v = [str(name + " key"), str(name + " value")];
    if (d[4] && v === 0) throw err("bad " + name, 0x82);
    if (kind === K.PAIR || kind === K.VARINT) {
      const list = bag[name] as unknown[] | undefined;
      if (list) {
        if (kind === K.VARINT && type !== 3) throw err("duplicate property " + name, 0x82);
        list.push(v);
      } else bag[name] = [v];
    } else {
      if (bag[name] !== undefined) throw err("duplicate property " + name, 0x82);
      bag[name] = v;
    }
  }
  if (p !== stop) throw err("properties overrun");
  s.at = stop;
  return props;
}

function uint(v: unknown, max: number, name: string): number {
  if (typeof v !== "number" || !(v >= 0 && v <= max) || Math.floor(v) !== v) throw err("bad " + name);
  return v;
}

function write(props: Properties | undefined, type: number): Uint8Array {
  if (!props) return EMPTY;
  const bag = props as { [k: string]: unknown };
  // Measure, then write into one exact buffer.
  let len = 0;
  const sizes: number[] = [];
  for (let pass = 0; pass < 2; pass++) {
    const out = pass ? new Uint8Array(varintSize(len) + len) : null;
    let o = out ? putVarint(out, 0, len) : 0;
    let k = 0;
    for (let i = 0; i < DEFS.length; i++) {
      const d = DEFS[i];
      const v = bag[d[1]];
      if (v === undefined) continue;
      const name = d[1], kind = d[2], id = d[0];
      if (!(d[3] & (1 << type))) throw err(name + " not allowed in " + WHERE[type], 0x82);
      if (kind === K.PAIR || kind === K.VARINT) {
        if (!Array.isArray(v)) throw err("bad " + name);
        if (kind === K.VARINT && type !== 3 && v.length > 1) throw err("bad " + name, 0x82);
        for (let j = 0; j < v.length; j++) {
          const e = v[j];
          if (kind === K.VARINT) {
            if (!uint(e, MAX[3], name)) throw err("bad " + name, 0x82);
            if (out) {
              out[o++] = id;
              o = putVarint(out, o, e as number);
            } else o += 1 + varintSize(e as number);
          } else {
            if (!Array.isArray(e) || typeof e[0] !== "string" || typeof e[1] !== "string") throw err("bad " + name);
            if (out) {
              out[o++] = id;
              o = putStr(out, o, e[0], sizes[k++]);
              o = putStr(out, o, e[1], sizes[k++]);
            } else {
              const a = strSize(e[0], name), c = strSize(e[1], name);
              sizes.push(a, c);
              o += 5 + a + c;
            }
          }
        }
        continue;
      }
      if (d[4] && v === 0) throw err("bad " + name, 0x82);
      if (kind === K.STR) {
        if (typeof v !== "string") throw err("bad " + name);
        if (out) {
          out[o++] = id;
          o = putStr(out, o, v, sizes[k++]);
        } else {
          const n = strSize(v, name);
          sizes.push(n);
          o += 3 + n;
        }
      } else if (kind === K.BIN) {
        if (!(v instanceof Uint8Array) || v.length > 65535) throw err("bad " + name);
        if (out) {
          out[o++] = id;
          out[o++] = v.length >> 8;
          out[o++] = v.length;
          out.set(v, o);
        }
        o += out ? v.length : 3 + v.length;
      } else {
        const n = uint(v, MAX[kind], name);
        const bytes = kind === K.BYTE01 ? 1 : kind === K.U16 ? 2 : 4;
        if (out) {
          out[o++] = id;
          for (let j = bytes - 1; j >= 0; j--) out[o++] = Math.floor(n / 2 ** (8 * j)) & 255;
        } else o += 1 + bytes;
      }
    }
    if (out) return out;
    len = o;
    if (len > 268435455) throw err("properties too long");
  }
  return EMPTY; // not reached
}

function connectProps(s: Session): Properties {
  const o = s.opts, l = s.limits;
  const p: Properties = { ...o.connectProperties };
  const expiry = o.expiry ?? (o.clean ? 0 : 604800);
  if (expiry) p.sessionExpiryInterval = expiry;
  if (l.receiveMaximum !== 65535) p.receiveMaximum = l.receiveMaximum;
  p.maximumPacketSize = l.maxPacketSize;
  if (l.topicAliasMaximum) p.topicAliasMaximum = l.topicAliasMaximum;
  return p;
}

function connack(s: Session, pr: Properties, info: ConnectInfo): void {
  if (pr.assignedClientIdentifier !== undefined) info.clientId = s.clientId = pr.assignedClientIdentifier;
  if (pr.serverKeepAlive !== undefined) info.keepAlive = pr.serverKeepAlive;
  if (pr.receiveMaximum !== undefined) info.receiveMaximum = pr.receiveMaximum;
  if (pr.maximumPacketSize !== undefined) info.maximumPacketSize = pr.maximumPacketSize;
  if (pr.topicAliasMaximum !== undefined && s.opts.topicAliases !== false) {
    info.topicAliasMaximum = Math.min(pr.topicAliasMaximum, s.limits.topicAliasMaximum);
  }
  if (pr.maximumQoS !== undefined) info.maximumQoS = pr.maximumQoS as QoS;
  if (pr.retainAvailable !== undefined) info.retainAvailable = pr.retainAvailable === 1;
  info.properties = pr;
}

function aliasIn(s: Session, topic: string, props: Properties | undefined): string {
  const alias = props && props.topicAlias;
  if (alias === undefined) {
    if (!topic) throw err("empty topic, no alias", 0x82);
    return topic;
  }
  const max = s.limits.topicAliasMaximum;
  if (alias === 0 || alias > max) throw err(`topic alias ${alias} outside 1..${max}`, 0x94);
  const known = s.aliasesIn || (s.aliasesIn = []);
  if (topic) known[alias] = topic;
  else {
    const t = known[alias];
    if (t === undefined) throw err(`topic alias ${alias} used before it was set`, 0x82);
    topic = t;
  }
  return topic;
}

/** Our outbound alias for `topic` (see V5.alias): a new one while the server allows more. */
function alias(s: Session, topic: string): number {
  const max = s.server.topicAliasMaximum;
  if (!max || s.opts.topicAliases === false) return 0;
  const map = s.aliasesOut || (s.aliasesOut = new Map());
  const a = map.get(topic);
  if (a !== undefined) return a;
  if (map.size >= max) return 0;
  map.set(topic, map.size + 1);
  return -map.size;
}

export const v5: V5 = { write, read, connectProps, connack, aliasIn, alias, reason: reasonName };
