// Our codec against mqtt-packet (an implementation nobody here wrote), both
// directions, every packet type, MQTT 3.1.1 and 5.0, thousands of random packets.
import { test } from "node:test";
import assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import { encode, decode, type Packet, type Properties, PACKET_NAMES } from "../../sdk/mqtt/codec.ts";
import { rng, packet, TYPES, norm } from "./gen.ts";

const LIMITS = { maxPacketSize: 1 << 20, maxTopicLength: 65535, maxProperties: 64 };
const CMD = PACKET_NAMES.map((n) => n.toLowerCase());

const BOOLEAN_PROPS = new Set(["payloadFormatIndicator", "requestProblemInformation", "requestResponseInformation",
  "retainAvailable", "wildcardSubscriptionAvailable", "sharedSubscriptionAvailable"]);

const ID_ORDER = ["payloadFormatIndicator", "messageExpiryInterval", "contentType", "responseTopic", "correlationData",
  "subscriptionIdentifiers", "sessionExpiryInterval", "assignedClientIdentifier", "serverKeepAlive", "authenticationMethod",
  "authenticationData", "requestProblemInformation", "willDelayInterval", "requestResponseInformation", "responseInformation",
  "serverReference", "reasonString", "receiveMaximum", "topicAliasMaximum", "topicAlias", "maximumQoS", "retainAvailable",
  "userProperties", "maximumPacketSize", "wildcardSubscriptionAvailable", "subscriptionIdentifierAvailable", "sharedSubscriptionAvailable"];

// --- our representation -> mqtt-packet's (normalisations documented inline)

function propsToMp(p: Properties | undefined): Record<string, unknown> | undefined {
  if (!p) return undefined;
  const out: Record<string, unknown> = {};
  // mqtt-packet writes properties in object key order; ours in identifier order.
  const entries = Object.entries(p).sort((a, b) => ID_ORDER.indexOf(a[0]) - ID_ORDER.indexOf(b[0]));
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    if (k === "userProperties") {
      // mqtt-packet: an object of key -> value | value[] (our generator keeps equal keys adjacent).
      const o: Record<string, string | string[]> = Object.create(null);
      for (const [a, b] of v as [string, string][]) {
        const cur = o[a];
        o[a] = cur === undefined ? b : Array.isArray(cur) ? [...cur, b] : [cur, b];
      }
      out.userProperties = o;
    } else if (k === "subscriptionIdentifiers") {
      // mqtt-packet: one number, or an array when repeated.
      const a = v as number[];
      out.subscriptionIdentifier = a.length === 1 ? a[0] : a;
    } else if (k === "subscriptionIdentifierAvailable") {
      out.subscriptionIdentifiersAvailable = v === 1; // mqtt-packet's spelling, as a boolean
    } else if (BOOLEAN_PROPS.has(k)) {
      out[k] = v === 1; // mqtt-packet takes 0/1 byte properties as booleans
    } else if (v instanceof Uint8Array) out[k] = Buffer.from(v);
    else out[k] = v;
  }
  return out;
}

function propsFromMp(p: Record<string, unknown> | undefined): Properties | undefined {
  if (!p || !Object.keys(p).length) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    if (k === "userProperties") {
      const pairs: [string, string][] = [];
      for (const [a, b] of Object.entries(v as Record<string, string | string[]>)) {
        for (const x of Array.isArray(b) ? b : [b]) pairs.push([a, x]);
      }
      out.userProperties = pairs;
    } else if (k === "subscriptionIdentifier") out.subscriptionIdentifiers = Array.isArray(v) ? v : [v];
    else if (k === "subscriptionIdentifiersAvailable") out.subscriptionIdentifierAvailable = v ? 1 : 0;
    else if (typeof v === "boolean") out[k] = v ? 1 : 0; // mqtt-packet parses 0/1 byte properties to booleans
    else if (Buffer.isBuffer(v)) out[k] = new Uint8Array(v);
    else out[k] = v;
  }
  return out as Properties;
}

function toMp(p: Packet, v: 4 | 5): Record<string, unknown> {
  const cmd = CMD[p.type];
  switch (p.type) {
    case 1:
      return {
        cmd, protocolId: "MQTT", protocolVersion: v, clientId: p.clientId, clean: p.clean, keepalive: p.keepAlive,
        username: p.username, password: p.password && Buffer.from(p.password), properties: propsToMp(p.properties),
        will: p.will && { topic: p.will.topic, payload: Buffer.from(p.will.payload), qos: p.will.qos, retain: p.will.retain, properties: propsToMp(p.will.properties) },
      };
    case 2:
      return v === 5
        ? { cmd, sessionPresent: p.sessionPresent, reasonCode: p.reasonCode, properties: propsToMp(p.properties) }
        : { cmd, sessionPresent: p.sessionPresent, returnCode: p.reasonCode };
    case 3:
      return { cmd, topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, retain: p.retain, dup: p.dup, messageId: p.qos ? p.packetId : undefined, properties: propsToMp(p.properties) };
    case 4: case 5: case 6: case 7:
      return { cmd, messageId: p.packetId, reasonCode: p.reasonCode, properties: propsToMp(p.properties) };
    case 8:
      return { cmd, messageId: p.packetId, properties: propsToMp(p.properties), subscriptions: p.subscriptions.map((s) => v === 5 ? { topic: s.filter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling } : { topic: s.filter, qos: s.qos }) };
    case 9: case 11:
      return { cmd, messageId: p.packetId, granted: p.reasonCodes, properties: propsToMp(p.properties) };
    case 10:
      return { cmd, messageId: p.packetId, unsubscriptions: p.filters, properties: propsToMp(p.properties) };
    case 12: case 13:
      return { cmd };
    default:
      return { cmd, reasonCode: p.reasonCode, properties: propsToMp(p.properties) };
  }
}

function fromMp(m: any, v: 4 | 5): Packet {
  const type = CMD.indexOf(m.cmd);
  const props = propsFromMp(m.properties);
  switch (type) {
    case 1: {
      const p: any = { type, protocolVersion: m.protocolVersion, clientId: m.clientId, clean: m.clean, keepAlive: m.keepalive, properties: props };
      if (m.will) p.will = { topic: m.will.topic, payload: new Uint8Array(m.will.payload), qos: m.will.qos, retain: m.will.retain, properties: propsFromMp(m.will.properties) };
      if (m.username !== undefined) p.username = m.username;
      if (m.password !== undefined) p.password = new Uint8Array(m.password);
      return p;
    }
    case 2:
      return { type, sessionPresent: m.sessionPresent, reasonCode: v === 5 ? m.reasonCode : m.returnCode, properties: props };
    case 3:
      return { type, topic: m.topic, payload: new Uint8Array(m.payload), qos: m.qos, retain: m.retain, dup: m.dup, packetId: m.qos ? m.messageId : 0, properties: props };
    case 4: case 5: case 6: case 7:
      // mqtt-packet leaves reasonCode undefined when the short form omits it (= Success).
      return { type, packetId: m.messageId, reasonCode: m.reasonCode ?? 0, properties: props } as Packet;
    case 8:
      return { type, packetId: m.messageId, properties: props, subscriptions: m.subscriptions.map((s: any) => v === 5 ? { filter: s.topic, qos: s.qos, noLocal: s.nl, retainAsPublished: s.rap, retainHandling: s.rh } : { filter: s.topic, qos: s.qos }) };
    case 9: case 11:
      // mqtt-packet has no UNSUBACK codes on 3.1.1 (granted undefined).
      return { type, packetId: m.messageId, reasonCodes: m.granted ?? [], properties: props } as Packet;
    case 10:
      return { type, packetId: m.messageId, filters: m.unsubscriptions, properties: props };
    case 12: case 13:
      return { type } as Packet;
    default:
      return { type, reasonCode: m.reasonCode ?? 0, properties: props } as Packet;
  }
}

function mpParse(bytes: Uint8Array, v: 4 | 5): any {
  const parser = mqttPacket.parser({ protocolVersion: v });
  const got: any[] = [];
  const errors: Error[] = [];
  parser.on("packet", (p: any) => got.push(p));
  parser.on("error", (e: Error) => errors.push(e));
  parser.parse(Buffer.from(bytes));
  if (errors.length) throw errors[0];
  assert.equal(got.length, 1, "mqtt-packet parsed one packet");
  return got[0];
}

/**
 * Where two valid encodings exist, ours picks the shortest and mqtt-packet does not:
 * - MQTT 5 PUBACK/PUBREC/PUBREL/PUBCOMP with a failure reason and no properties: we omit
 *   the property length (allowed, MQTT 5 3.4.2.2.1), mqtt-packet writes a 0.
 * - MQTT 5 DISCONNECT / AUTH with reason 0 and no properties: we send remaining length 0
 *   (MQTT 5 3.14.2.1 / 3.15.2.1), mqtt-packet always writes reason and property length.
 * - MQTT 5 DISCONNECT with a reason and no properties: we omit the property length
 *   (3.14.2.2.1), mqtt-packet writes a 0.
 * Those are compared field by field only.
 */
function canonical(p: Packet, v: 4 | 5): boolean {
  if (v !== 5) return true;
  if (p.type >= 4 && p.type <= 7) return !((p as any).reasonCode && !(p as any).properties);
  if (p.type === 14) return !!(p as any).properties;
  if (p.type === 15) return !!((p as any).reasonCode || (p as any).properties);
  return true;
}

for (const v of [4, 5] as const) {
  test(`MQTT ${v === 4 ? "3.1.1" : "5.0"}: ours -> mqtt-packet -> ours, every packet type, byte-identical where canonical`, () => {
    const r = rng(0x5eed0000 + v);
    let identical = 0, total = 0;
    for (const type of TYPES(v)) {
      for (let i = 0; i < 400; i++) {
        const p = packet(r, type, v);
        const ctx = `seed ${0x5eed0000 + v} type ${PACKET_NAMES[type]} #${i}`;
        const ours = encode(p, v, LIMITS);
        // 1. mqtt-packet decodes our bytes to the same fields. It cannot read the short
        // AUTH (remaining length 0, allowed by MQTT 5 3.15.2.1): that one is skipped.
        if (!(p.type === 15 && ours.length === 2)) {
          const theirs = mpParse(ours, v);
          assert.deepEqual(norm(fromMp(theirs, v)), norm(p), `${ctx}: mqtt-packet read ours`);
        }
        // 2. we decode mqtt-packet's bytes to the same fields. mqtt-packet refuses to
        // generate an MQTT 5 password without a username (allowed by MQTT 5 3.1.2.9): skipped.
        if (p.type === 1 && p.password && p.username === undefined) {
          total++;
          continue;
        }
        const mpBytes = new Uint8Array(mqttPacket.generate(toMp(p, v) as any, { protocolVersion: v }));
        assert.deepEqual(norm(decode(mpBytes, v, LIMITS)), norm(p), `${ctx}: we read mqtt-packet's`);
        // 3. the same bytes where the encoding is canonical.
        if (canonical(p, v)) {
          assert.equal(Buffer.from(ours).toString("hex"), Buffer.from(mpBytes).toString("hex"), `${ctx}: bytes`);
          identical++;
        }
        // 4. our own round trip.
        assert.deepEqual(norm(decode(ours, v, LIMITS)), norm(p), `${ctx}: round trip`);
        total++;
      }
    }
    assert.ok(identical > total * 0.8, `${identical}/${total} byte-identical`);
  });
}
