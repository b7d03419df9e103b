// Random MQTT packets (our representation) for conformance and fuzz tests.
// Seeded so every failure reproduces.
import type { Packet, Properties, QoS } from "../../sdk/mqtt/codec.ts";

export type Rng = () => number;

/** mulberry32: small, fast, seedable. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
export const chance = (r: Rng, p: number) => r() < p;

export function bytes(r: Rng, max: number): Uint8Array {
  const n = int(r, 0, max);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(r, 0, 255);
  return b;
}

/** Valid Unicode without U+0000 and without surrogates, mixing 1- to 4-byte UTF-8. */
export function str(r: Rng, maxChars: number, alphabet?: string): string {
  const n = int(r, 0, maxChars);
  let s = "";
  for (let i = 0; i < n; i++) {
    if (alphabet) {
      const chars = Array.from(alphabet);
      s += chars[int(r, 0, chars.length - 1)];
      continue;
    }
    const k = r();
    if (k < 0.7) s += String.fromCharCode(int(r, 0x20, 0x7e));
    else if (k < 0.8) s += String.fromCharCode(int(r, 0x01, 0x7ff));
    else if (k < 0.93) {
      let c = int(r, 0x800, 0xfffd);
      if (c >= 0xd800 && c <= 0xdfff) c = 0xe000;
      s += String.fromCharCode(c);
    } else s += String.fromCodePoint(int(r, 0x10000, 0x10ffff));
  }
  return s;
}

const TOPIC_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_$é€😀 ";
export function topic(r: Rng): string {
  const levels = int(r, 1, 5);
  const out: string[] = [];
  for (let i = 0; i < levels; i++) out.push(str(r, 8, TOPIC_CHARS));
  const t = out.join("/");
  return t.length ? t : "t";
}
export function filter(r: Rng): string {
  const levels = int(r, 1, 5);
  const out: string[] = [];
  for (let i = 0; i < levels; i++) {
    const k = r();
    out.push(k < 0.15 ? "+" : k < 0.2 && i === levels - 1 ? "#" : str(r, 8, TOPIC_CHARS));
  }
  const f = out.join("/");
  return f.length ? f : "#";
}

// Which properties may appear where (MQTT 5 table 2.2.2.2), kept independent of the codec's own table.
// Contexts: 0 = Will, else the packet type.
type Kind = "b01" | "u16" | "u32" | "var" | "str" | "bin" | "pair" | "qos01";
const PROPS: [keyof Properties, Kind, number[]][] = [
  ["payloadFormatIndicator", "b01", [3, 0]],
  ["messageExpiryInterval", "u32", [3, 0]],
  ["contentType", "str", [3, 0]],
  ["responseTopic", "str", [3, 0]],
  ["correlationData", "bin", [3, 0]],
  ["subscriptionIdentifiers", "var", [3, 8]],
  ["sessionExpiryInterval", "u32", [1, 2, 14]],
  ["assignedClientIdentifier", "str", [2]],
  ["serverKeepAlive", "u16", [2]],
  ["authenticationMethod", "str", [1, 2, 15]],
  ["authenticationData", "bin", [1, 2, 15]],
  ["requestProblemInformation", "b01", [1]],
  ["willDelayInterval", "u32", [0]],
  ["requestResponseInformation", "b01", [1]],
  ["responseInformation", "str", [2]],
  ["serverReference", "str", [2, 14]],
  ["reasonString", "str", [2, 4, 5, 6, 7, 9, 11, 14, 15]],
  ["receiveMaximum", "u16", [1, 2]],
  ["topicAliasMaximum", "u16", [1, 2]],
  ["topicAlias", "u16", [3]],
  ["maximumQoS", "qos01", [2]],
  ["retainAvailable", "b01", [2]],
  ["userProperties", "pair", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15]],
  ["maximumPacketSize", "u32", [1, 2]],
  ["wildcardSubscriptionAvailable", "b01", [2]],
  ["subscriptionIdentifierAvailable", "b01", [2]],
  ["sharedSubscriptionAvailable", "b01", [2]],
];
const NONZERO = new Set(["receiveMaximum", "maximumPacketSize", "subscriptionIdentifiers", "topicAlias"]);

export function properties(r: Rng, ctx: number): Properties | undefined {
  if (chance(r, 0.3)) return undefined;
  const p: Record<string, unknown> = {};
  for (const [name, kind, where] of PROPS) {
    if (!where.includes(ctx) || !chance(r, 0.35)) continue;
    const lo = NONZERO.has(name) ? 1 : 0;
    switch (kind) {
      case "b01": case "qos01": p[name] = int(r, 0, 1); break;
      case "u16": p[name] = int(r, lo, 65535); break;
      case "u32": p[name] = chance(r, 0.1) ? 0xffffffff : int(r, lo, 0xfffffff); break;
      case "var": p[name] = [int(r, 1, 268435455)]; break;
      case "str": p[name] = str(r, 12); break;
      case "bin": p[name] = bytes(r, 16); break;
      case "pair": {
        // Same keys kept adjacent and keys not integer-like: mqtt-packet keeps
        // user properties in a plain object, which would reorder them otherwise.
        const out: [string, string][] = [];
        const keys = int(r, 1, 3);
        for (let k = 0; k < keys; k++) {
          const key = "k" + k + str(r, 5);
          const n = int(r, 1, 2);
          // Values never empty: mqtt-packet's parser drops an empty value when its key repeats.
          for (let i = 0; i < n; i++) out.push([key, "v" + str(r, 8)]);
        }
        p[name] = out;
      }
    }
  }
  return Object.keys(p).length ? (p as Properties) : undefined;
}

const V5_ACK_CODES: Record<number, number[]> = {
  4: [0, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  5: [0, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  6: [0, 0x92],
  7: [0, 0x92],
};
const V5_CONNACK = [0, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f];
const V5_SUBACK = [0, 1, 2, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2];
const V5_UNSUBACK = [0, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91];
const V5_DISCONNECT = [0, 4, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2];

export function packet(r: Rng, type: number, v: 4 | 5): Packet {
  const props = (ctx: number) => (v === 5 ? properties(r, ctx) : undefined);
  const id = () => int(r, 1, 65535);
  const qos = () => int(r, 0, 2) as QoS;
  switch (type) {
    case 1: {
      const clientId = chance(r, 0.1) ? "" : str(r, 23);
      const p: Packet = { type: 1, protocolVersion: v, clientId, clean: clientId === "" || chance(r, 0.5), keepAlive: int(r, 0, 65535), properties: props(1) };
      if (chance(r, 0.5)) p.will = { topic: topic(r), payload: bytes(r, 40), qos: qos(), retain: chance(r, 0.5), properties: props(0) };
      if (chance(r, 0.5)) p.username = str(r, 12);
      if ((p.username !== undefined || v === 5) && chance(r, 0.5)) p.password = bytes(r, 20);
      return p;
    }
    case 2: {
      const reasonCode = v === 4 ? pick(r, [0, 0, 1, 2, 3, 4, 5]) : pick(r, V5_CONNACK);
      return { type: 2, sessionPresent: reasonCode === 0 && chance(r, 0.5), reasonCode, properties: props(2) };
    }
    case 3: {
      const q = qos();
      return { type: 3, topic: topic(r), payload: bytes(r, chance(r, 0.05) ? 2000 : 100), qos: q, retain: chance(r, 0.5), dup: q > 0 && chance(r, 0.3), packetId: q ? id() : 0, properties: props(3) };
    }
    case 4: case 5: case 6: case 7: {
      const p = props(type);
      return { type, packetId: id(), reasonCode: v === 5 ? pick(r, V5_ACK_CODES[type]) : 0, properties: p } as Packet;
    }
    case 8: {
      const n = int(r, 1, 4);
      const subscriptions = [];
      for (let i = 0; i < n; i++) {
        subscriptions.push(v === 5
          ? { filter: filter(r), qos: qos(), noLocal: chance(r, 0.5), retainAsPublished: chance(r, 0.5), retainHandling: int(r, 0, 2) as 0 | 1 | 2 }
          : { filter: filter(r), qos: qos() });
      }
      let p = props(8);
      if (p) delete p.subscriptionIdentifiers; // at most one, set below
      if (v === 5 && chance(r, 0.3)) p = { ...p, subscriptionIdentifiers: [int(r, 1, 268435455)] };
      return { type: 8, packetId: id(), subscriptions, properties: p };
    }
    case 9: {
      const n = int(r, 1, 6);
      const codes = [];
      for (let i = 0; i < n; i++) codes.push(v === 5 ? pick(r, V5_SUBACK) : pick(r, [0, 1, 2, 0x80]));
      return { type: 9, packetId: id(), reasonCodes: codes, properties: props(9) };
    }
    case 10: {
      const n = int(r, 1, 4);
      const filters = [];
      for (let i = 0; i < n; i++) filters.push(filter(r));
      return { type: 10, packetId: id(), filters, properties: props(10) };
    }
    case 11: {
      const codes = [];
      if (v === 5) for (let i = int(r, 1, 6); i > 0; i--) codes.push(pick(r, V5_UNSUBACK));
      return { type: 11, packetId: id(), reasonCodes: codes, properties: props(11) };
    }
    case 12: case 13:
      return { type } as Packet;
    case 14:
      return { type: 14, reasonCode: v === 5 ? pick(r, V5_DISCONNECT) : 0, properties: props(14) };
    default:
      return { type: 15, reasonCode: pick(r, [0, 0x18, 0x19]), properties: props(15) };
  }
}

/** Types that exist in version v. */
export const TYPES = (v: 4 | 5) => (v === 5 ? [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);

/** Comparable form: no undefined fields, no empty property blocks, bytes as hex. */
export function norm(x: unknown): unknown {
  if (x instanceof Uint8Array) return "hex:" + Buffer.from(x).toString("hex");
  if (Array.isArray(x)) return x.map(norm);
  if (x && typeof x === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x).sort()) {
      const v = (x as Record<string, unknown>)[k];
      if (v === undefined) continue;
      if (k === "properties" && v && typeof v === "object" && !Object.keys(v).length) continue;
      out[k] = norm(v);
    }
    return out;
  }
  return x;
}
