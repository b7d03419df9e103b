import { MqttProtocolError } from "./error";
import { MALFORMED, PROTOCOL_ERROR } from "./utf8";
import { Reader, Writer, MAX_VARINT, checkUint, varintSize } from "./wire";

/** MQTT 5 properties (MQTT 2.2.2.2), one optional field per property. */
export interface Properties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array;
  /** Several in a PUBLISH from the server; at most one in SUBSCRIBE. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Uint8Array;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: number;
  userProperties?: [string, string][];
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifierAvailable?: number;
  sharedSubscriptionAvailable?: number;
}

// Value kinds.
const BYTE01 = 0, U16 = 1, U32 = 2, VARINT = 3, STR = 4, BIN = 5, PAIR = 6;

/** Where a property may appear: bit n = packet type n; bit 0 = Will properties. */
export const IN_WILL = 0;
const W = 1 << 0, CONNECT = 1 << 1, CONNACK = 1 << 2, PUBLISH = 1 << 3, PUBACK = 1 << 4, PUBREC = 1 << 5,
  PUBREL = 1 << 6, PUBCOMP = 1 << 7, SUBSCRIBE = 1 << 8, SUBACK = 1 << 9, UNSUBACK = 1 << 11,
  DISCONNECT = 1 << 14, AUTH = 1 << 15;
const ACKS = PUBACK | PUBREC | PUBREL | PUBCOMP | SUBACK | UNSUBACK | DISCONNECT | AUTH | CONNACK;

// [id, name, kind, where, nonzero] in ascending id order (also the encoding order).
type Def = [number, keyof Properties, number, number, boolean];
const DEFS: Def[] = [
  [0x01, "payloadFormatIndicator", BYTE01, PUBLISH | W, false],
  [0x02, "messageExpiryInterval", U32, PUBLISH | W, false],
  [0x03, "contentType", STR, PUBLISH | W, false],
  [0x08, "responseTopic", STR, PUBLISH | W, false],
  [0x09, "correlationData", BIN, PUBLISH | W, false],
  [0x0b, "subscriptionIdentifiers", VARINT, PUBLISH | SUBSCRIBE, true],
  [0x11, "sessionExpiryInterval", U32, CONNECT | CONNACK | DISCONNECT, false],
  [0x12, "assignedClientIdentifier", STR, CONNACK, false],
  [0x13, "serverKeepAlive", U16, CONNACK, false],
  [0x15, "authenticationMethod", STR, CONNECT | CONNACK | AUTH, false],
  [0x16, "authenticationData", BIN, CONNECT | CONNACK | AUTH, false],
  [0x17, "requestProblemInformation", BYTE01, CONNECT, false],
  [0x18, "willDelayInterval", U32, W, false],
  [0x19, "requestResponseInformation", BYTE01, CONNECT, false],
  [0x1a, "responseInformation", STR, CONNACK, false],
  [0x1c, "serverReference", STR, CONNACK | DISCONNECT, false],
  [0x1f, "reasonString", STR, ACKS, false],
  [0x21, "receiveMaximum", U16, CONNECT | CONNACK, true],
  [0x22, "topicAliasMaximum", U16, CONNECT | CONNACK, false],
  [0x23, "topicAlias", U16, PUBLISH, false],
  [0x24, "maximumQoS", BYTE01, CONNACK, false],
  [0x25, "retainAvailable", BYTE01, CONNACK, false],
  [0x26, "userProperties", PAIR, 0xffff, false],
  [0x27, "maximumPacketSize", U32, CONNECT | CONNACK, true],
  [0x28, "wildcardSubscriptionAvailable", BYTE01, CONNACK, false],
  [0x29, "subscriptionIdentifierAvailable", BYTE01, CONNACK, false],
  [0x2a, "sharedSubscriptionAvailable", BYTE01, CONNACK, false],
];
const BY_ID: (Def | undefined)[] = [];
for (const d of DEFS) BY_ID[d[0]] = d;

function ctxName(ctx: number): string {
  return ctx === IN_WILL ? "Will" : ["", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
    "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"][ctx];
}

/**
 * Reads a property block (length + properties) for packet type `ctx`
 * (IN_WILL for Will properties). Returns undefined when it is empty.
 */
export function readProperties(r: Reader, ctx: number, maxCount: number): Properties | undefined {
  const len = r.varint("property length");
  r.need(len, "properties");
  if (len === 0) return undefined;
  const end = r.p + len;
  const saved = r.end;
  r.end = end;
  const props: Properties = {};
  const bag = props as { [k: string]: unknown };
  let count = 0;
  while (r.p < end) {
    if (++count > maxCount) throw new MqttProtocolError(`${ctxName(ctx)} has more than ${maxCount} properties`, MALFORMED);
    const id = r.varint("property identifier");
    const d = id < BY_ID.length ? BY_ID[id] : undefined;
    if (!d) throw new MqttProtocolError(`${ctxName(ctx)} has unknown property 0x${id.toString(16)}`, MALFORMED);
    const name = d[1], kind = d[2];
    if (!(d[3] & (1 << ctx))) throw new MqttProtocolError(`property ${name} is not allowed in ${ctxName(ctx)}`, MALFORMED);
    let v: unknown;
    switch (kind) {
      case BYTE01: {
        const b = r.u8(name);
        if (b > 1) throw new MqttProtocolError(`property ${name} must be 0 or 1, got ${b}`, PROTOCOL_ERROR);
        v = b;
        break;
      }
      case U16: v = r.u16(name); break;
      case U32: v = r.u32(name); break;
      case VARINT: v = r.varint(name); break;
      case STR: v = r.str(name); break;
      case BIN: v = r.bytes(name); break;
      default: v = [r.str(name + " key"), r.str(name + " value")]; break;
    }
    if (d[4] && v === 0) throw new MqttProtocolError(`property ${name} must not be 0`, PROTOCOL_ERROR);
    if (kind === PAIR || kind === VARINT) {
      const list = bag[name] as unknown[] | undefined;
      if (list) {
        if (kind === VARINT && ctx !== 3) throw new MqttProtocolError(`duplicate property ${name} in ${ctxName(ctx)}`, PROTOCOL_ERROR);
        list.push(v);
      } else bag[name] = [v];
    } else {
      if (bag[name] !== undefined) throw new MqttProtocolError(`duplicate property ${name} in ${ctxName(ctx)}`, PROTOCOL_ERROR);
      bag[name] = v;
    }
  }
  r.end = saved;
  return props;
}

/** Writes (or measures) a property block for packet type `ctx`. Options are validated as they are written. */
export function writeProperties(w: Writer, props: Properties | undefined, ctx: number): void {
  if (!props) {
    w.u8(0);
    return;
  }
  // Measure first: the block is prefixed by its length.
  const m = new Writer(null, 0);
  body(m, props, ctx);
  if (m.p > MAX_VARINT) throw new MqttProtocolError("properties too long", MALFORMED);
  w.varint(m.p);
  if (w.out) body(w, props, ctx);
  else w.p += m.p;
}

function body(w: Writer, props: Properties, ctx: number): void {
  const bag = props as { [k: string]: unknown };
  for (let i = 0; i < DEFS.length; i++) {
    const d = DEFS[i];
    const v = bag[d[1]];
    if (v === undefined) continue;
    const name = d[1], kind = d[2];
    if (!(d[3] & (1 << ctx))) throw new MqttProtocolError(`property ${name} is not allowed in ${ctxName(ctx)}`, PROTOCOL_ERROR);
    if (kind === PAIR || kind === VARINT) {
      if (!Array.isArray(v)) throw new MqttProtocolError(`property ${name} must be an array`, MALFORMED);
      if (kind === VARINT && ctx !== 3 && v.length > 1) throw new MqttProtocolError(`only one ${name} allowed in ${ctxName(ctx)}`, PROTOCOL_ERROR);
      for (const e of v) {
        w.u8(d[0]);
        if (kind === VARINT) {
          if (checkUint(e, MAX_VARINT, name) === 0) throw new MqttProtocolError(`property ${name} must not be 0`, PROTOCOL_ERROR);
          w.varint(e as number);
        } else {
          if (!Array.isArray(e) || typeof e[0] !== "string" || typeof e[1] !== "string") {
            throw new MqttProtocolError(`property ${name} entries must be [key, value] strings`, MALFORMED);
          }
          w.str(e[0], name);
          w.str(e[1], name);
        }
      }
      continue;
    }
    w.u8(d[0]);
    switch (kind) {
      case BYTE01: w.u8(checkUint(v, 1, name)); break;
      case U16: w.u16(checkUint(v, 65535, name)); break;
      case U32: w.u32(checkUint(v, 0xffffffff, name)); break;
      case STR:
        if (typeof v !== "string") throw new MqttProtocolError(`property ${name} must be a string`, MALFORMED);
        w.str(v, name);
        break;
      default:
        if (!(v instanceof Uint8Array)) throw new MqttProtocolError(`property ${name} must be a Uint8Array`, MALFORMED);
        w.bytes(v, name);
    }
    if (d[4] && v === 0) throw new MqttProtocolError(`property ${name} must not be 0`, PROTOCOL_ERROR);
  }
}

/** Bytes a property block takes, including its length prefix. */
export function propertiesSize(props: Properties | undefined, ctx: number): number {
  if (!props) return 1;
  const m = new Writer(null, 0);
  body(m, props, ctx);
  return varintSize(m.p) + m.p;
}
