import { test } from "node:test";
import assert from "node:assert/strict";
import { Session, type SessionEvents, type SessionOptions } from "../../sdk/mqtt/session.ts";
import { v5 } from "../../sdk/mqtt/v5.ts";
import { encode, decode, type Packet } from "../../sdk/mqtt/codec.ts";
import { MemoryInflightStore } from "../../sdk/mqtt/store.ts";
import { topicMatches, isValidFilter } from "../../sdk/mqtt/topic.ts";

const enc = (s: string) => new TextEncoder().encode(s);

type Action =
  | { type: "send"; bytes: Uint8Array }
  | { type: "timer"; at: number }
  | { type: "connected"; info: any }
  | { type: "message"; topic: string; payload: Uint8Array; qos: number; retain: boolean; dup: boolean; properties: any }
  | { type: "resolve"; op: number; value?: unknown }
  | { type: "reject"; op: number; error: any }
  | { type: "close"; error: any };

/** Drives a Session, records its events as actions, and plays the server with the full codec. */
class Harness implements SessionEvents {
  s: Session;
  v: 4 | 5;
  now = 0;
  sent: Packet[] = [];
  actions: Action[] = [];
  private mark = 0;
  constructor(opts: Partial<SessionOptions> = {}) {
    this.v = opts.version ?? 5;
    this.s = new Session({ version: this.v, clientId: "dev1", keepAlive: 60, clean: true, ...opts }, this, v5);
  }
  send(bytes: Uint8Array) { this.push({ type: "send", bytes }); }
  timer(at: number) { this.push({ type: "timer", at }); }
  up(info: any) { this.push({ type: "connected", info }); }
  message(topic: string, payload: Uint8Array, qos: number, retain: boolean, dup: boolean, properties: any) {
    this.push({ type: "message", topic, payload, qos, retain, dup, properties: properties || {} });
  }
  done(op: unknown, error: any, value?: unknown) {
    this.push(error ? { type: "reject", op: op as number, error } : { type: "resolve", op: op as number, value });
  }
  down(error: any) { this.push({ type: "close", error }); }
  private push(a: Action) {
    if (a.type === "send") this.sent.push(decode(a.bytes, this.v, { maxPacketSize: 1 << 20, maxTopicLength: 65535, maxProperties: 64 }));
    this.actions.push(a);
  }
  /** The actions recorded since the last take (the session's calls return nothing). */
  take(_?: unknown): Action[] {
    const a = this.actions.slice(this.mark);
    this.mark = this.actions.length;
    return a;
  }
  open() { this.s.open(this.now); return this.take(); }
  server(p: Packet) { this.s.receive(encode(p, this.v), this.now); return this.take(); }
  raw(b: number[]) { this.s.receive(Uint8Array.from(b), this.now); return this.take(); }
  connack(props?: object, sessionPresent = false) {
    return this.server({ type: 2, sessionPresent, reasonCode: 0, properties: this.v === 5 ? props : undefined } as Packet);
  }
  publish(topic: string, qos: 0 | 1 | 2, op: number, payload = "x") { this.s.publish(topic, enc(payload), qos, false, undefined, op, this.now); return this.take(); }
  tick(t: number) { this.now = t; this.s.tick(t); return this.take(); }
  drain() { const s = this.sent; this.sent = []; return s; }
  ofType(t: number) { return this.sent.filter((p) => p.type === t) as any[]; }
  resolved(op: number) { return this.actions.some((a) => a.type === "resolve" && a.op === op); }
  rejected(op: number) { return this.actions.find((a) => a.type === "reject" && a.op === op) as any; }
  closed() { return this.actions.find((a) => a.type === "close") as any; }
  messages() { return this.actions.filter((a) => a.type === "message") as any[]; }
}

function connected(opts: Partial<SessionOptions> = {}, props?: object) {
  const h = new Harness(opts);
  h.open();
  h.connack(props);
  h.drain();
  return h;
}

for (const v of [4, 5] as const) {
  test(`v${v}: QoS 0/1/2 outbound flows resolve on the right acknowledgement`, () => {
    const h = connected({ version: v });
    h.publish("a/b", 0, 1);
    assert.ok(h.resolved(1), "QoS 0 resolves when sent");
    h.publish("a/b", 1, 2);
    const [p1] = h.ofType(3);
    assert.equal(p1.qos, 0);
    const pub1 = h.ofType(3)[1];
    assert.equal(pub1.qos, 1);
    assert.ok(!h.resolved(2));
    h.server({ type: 4, packetId: pub1.packetId, reasonCode: 0 });
    assert.ok(h.resolved(2));
    h.publish("a/b", 2, 3);
    const pub2 = h.ofType(3)[2];
    h.server({ type: 5, packetId: pub2.packetId, reasonCode: 0 });
    const rel = h.ofType(6)[0];
    assert.equal(rel.packetId, pub2.packetId);
    assert.ok(!h.resolved(3));
    h.server({ type: 7, packetId: pub2.packetId, reasonCode: 0 });
    assert.ok(h.resolved(3));
    assert.ok(!h.s.busy);
  });

  test(`v${v}: QoS 1 and 2 inbound: PUBACK, PUBREC/PUBCOMP, QoS 2 duplicates delivered once`, () => {
    const h = connected({ version: v });
    h.server({ type: 3, topic: "t/1", payload: enc("one"), qos: 1, retain: false, dup: false, packetId: 7 });
    assert.deepEqual(h.ofType(4).map((p) => p.packetId), [7]);
    h.server({ type: 3, topic: "t/2", payload: enc("two"), qos: 2, retain: false, dup: false, packetId: 9 });
    h.server({ type: 3, topic: "t/2", payload: enc("two"), qos: 2, retain: false, dup: true, packetId: 9 });
    assert.equal(h.messages().filter((m) => m.topic === "t/2").length, 1, "delivered once");
    assert.equal(h.ofType(5).length, 2, "PUBREC for each copy");
    h.server({ type: 6, packetId: 9, reasonCode: 0 });
    assert.deepEqual(h.ofType(7).map((p) => p.packetId), [9]);
    // After PUBREL the id is free: a new message with id 9 is new.
    h.server({ type: 3, topic: "t/3", payload: enc("three"), qos: 2, retain: false, dup: false, packetId: 9 });
    assert.equal(h.messages().length, 3);
    assert.equal(new TextDecoder().decode(h.messages()[0].payload), "one");
  });

  test(`v${v}: unacknowledged QoS 1/2 resent with DUP after reconnect, PUBREL resent in PUBREC-received state`, () => {
    const store = new MemoryInflightStore();
    const h = connected({ version: v, clean: false, store });
    h.publish("q/1", 1, 1);
    h.publish("q/2", 2, 2);
    const [a, b] = h.ofType(3);
    h.server({ type: 5, packetId: b.packetId, reasonCode: 0 });
    h.take(h.s.lost(h.now));
    assert.ok(h.closed());
    h.drain();
    assert.equal(store.size, 2);
    h.open();
    const again = h.drain();
    assert.equal(again[0].type, 1);
    const pub = again.find((p) => p.type === 3) as any;
    assert.equal(pub.packetId, a.packetId);
    assert.equal(pub.dup, true);
    assert.equal(pub.topic, "q/1");
    const rel = again.find((p) => p.type === 6) as any;
    assert.equal(rel.packetId, b.packetId);
    h.connack(undefined, true);
    h.server({ type: 4, packetId: a.packetId, reasonCode: 0 });
    h.server({ type: 7, packetId: b.packetId, reasonCode: 0 });
    assert.ok(h.resolved(1) && h.resolved(2));
    assert.equal(store.size, 0);
  });

  test(`v${v}: clean session reconnect resends unacknowledged PUBLISH, forgets PUBREC-received QoS 2`, () => {
    const store = new MemoryInflightStore();
    const h = connected({ version: v, clean: true, store });
    h.publish("c/1", 1, 1);
    h.publish("c/2", 2, 2);
    const [a, b] = h.ofType(3);
    h.server({ type: 5, packetId: b.packetId, reasonCode: 0 });
    h.take(h.s.lost(h.now));
    h.drain();
    h.open();
    const again = h.drain();
    assert.deepEqual(again.map((p) => p.type), [1, 3], "CONNECT then the QoS 1 PUBLISH, no PUBREL");
    assert.equal((again[1] as any).packetId, a.packetId);
    assert.ok(h.resolved(2), "the QoS 2 message was the server's since PUBREC");
    assert.equal(store.size, 1);
    // 3.1.1 UNSUBACK carries no payload.
    assert.throws(() => decode(Uint8Array.of(0xb0, 3, 0, 1, 0), 4), /trailing/);
  });

  test(`v${v}: a new session resends what a previous one stored (flash-backed store survives reboot)`, () => {
    const store = new MemoryInflightStore();
    const h1 = connected({ version: v, clean: false, store });
    h1.publish("r/1", 1, 1, "kept");
    const id = h1.ofType(3)[0].packetId;
    // Reboot: a fresh Session over the same store.
    const h2 = new Harness({ version: v, clean: false, store });
    h2.open();
    const pub = h2.ofType(3)[0];
    assert.equal(pub.packetId, id);
    assert.equal(pub.dup, true);
    assert.equal(new TextDecoder().decode(pub.payload), "kept");
    h2.connack(undefined, true);
    h2.server({ type: 4, packetId: id, reasonCode: 0 });
    assert.equal(store.size, 0);
    // A new publish does not reuse an id still in the store.
    const h3 = new Harness({ version: v, clean: false, store: (() => { const s = new MemoryInflightStore(); s.put({ packetId: 1, state: 1, packet: encode({ type: 3, topic: "x", payload: new Uint8Array(0), qos: 1, retain: false, dup: false, packetId: 1 }, v) }); return s; })() });
    h3.open();
    h3.connack(undefined, true);
    h3.publish("y", 1, 5);
    const ids = h3.ofType(3).map((p) => p.packetId);
    assert.deepEqual(ids, [1, 2]);
  });

  test(`v${v}: packet identifiers wrap at 65535 and skip ids in use`, () => {
    const h = connected({ version: v, limits: { maxInflight: 100, maxQueued: 100 } });
    h.publish("w", 1, 1); // id 1 stays in flight
    for (let i = 0; i < 65534; i++) {
      h.publish("w", 1, 100);
      const p = h.sent.pop() as any;
      h.server({ type: 4, packetId: p.packetId, reasonCode: 0 });
      h.sent.length = 0;
      h.actions.length = 0;
    }
    h.publish("w", 1, 2);
    const next = h.ofType(3)[0];
    assert.equal(next.packetId, 2, "wrapped past 65535 and skipped 1, still in flight");
  });

  test(`v${v}: keep-alive sends PINGREQ when idle and closes on a dead link`, () => {
    const h = connected({ version: v, keepAlive: 10, pingTimeoutMs: 3000 });
    const timers = h.actions.filter((a) => a.type === "timer") as any[];
    assert.equal(timers[timers.length - 1].at, 10000);
    h.tick(9999);
    assert.equal(h.ofType(12).length, 0);
    h.tick(10000);
    assert.equal(h.ofType(12).length, 1);
    h.server({ type: 13 });
    h.tick(20000);
    assert.equal(h.ofType(12).length, 2);
    h.tick(22999);
    assert.ok(!h.closed());
    h.tick(23000);
    assert.match(h.closed().error.message, /no PINGRESP within 3000 ms/);
  });

  test(`v${v}: PUBLISH pipelined right after CONNECT, before CONNACK`, () => {
    const h = new Harness({ version: v });
    h.publish("early/0", 0, 1);
    h.publish("early/1", 1, 2);
    assert.equal(h.sent.length, 0, "nothing before the transport opens");
    h.open();
    assert.deepEqual(h.sent.map((p) => p.type), [1, 3, 3]);
    h.connack();
    h.server({ type: 4, packetId: (h.ofType(3)[1]).packetId, reasonCode: 0 });
    assert.ok(h.resolved(1) && h.resolved(2));
  });

  test(`v${v}: subscribe and unsubscribe with per-topic results`, () => {
    const h = connected({ version: v });
    h.take(h.s.subscribe([{ filter: "a/+", qos: 1 }, { filter: "b/#", qos: 2 }], undefined, 1, 0));
    const sub = h.ofType(8)[0];
    h.server({ type: 9, packetId: sub.packetId, reasonCodes: [1, 0x80] });
    const res = h.actions.find((a) => a.type === "resolve" && a.op === 1) as any;
    assert.deepEqual(res.value, [{ filter: "a/+", granted: 1 }, { filter: "b/#", reasonCode: 0x80 }]);
    h.take(h.s.unsubscribe(["a/+"], 2, 0));
    const un = h.ofType(10)[0];
    h.server({ type: 11, packetId: un.packetId, reasonCodes: v === 5 ? [0] : [] });
    assert.ok(h.resolved(2));
    h.take(h.s.subscribe([{ filter: "bad/#/x", qos: 0 }], undefined, 3, 0));
    assert.equal(h.rejected(3).error.reasonCode, 0x8f);
  });
}

test("v5: receive maximum queues publishes beyond the server's limit", () => {
  const h = connected({ version: 5 }, { receiveMaximum: 2 });
  for (let i = 1; i <= 5; i++) h.publish("rm", 1, i);
  let pubs = h.ofType(3);
  assert.equal(pubs.length, 2);
  h.server({ type: 4, packetId: pubs[0].packetId, reasonCode: 0 });
  pubs = h.ofType(3);
  assert.equal(pubs.length, 3, "one more sent when one is acknowledged");
  for (const p of pubs.slice(1)) h.server({ type: 4, packetId: p.packetId, reasonCode: 0 });
  assert.equal(h.ofType(3).length, 5);
  for (const p of h.ofType(3).slice(3)) h.server({ type: 4, packetId: p.packetId, reasonCode: 0 });
  for (let i = 1; i <= 5; i++) assert.ok(h.resolved(i));
});

test("queue limit rejects requests beyond maxQueued", () => {
  const h = new Harness({ version: 5, limits: { maxQueued: 3 } });
  for (let i = 1; i <= 4; i++) h.publish("q", 1, i);
  assert.equal(h.rejected(4).error.reasonCode, 0x97);
  assert.ok(!h.rejected(3));
});

test("v5: outbound topic alias set once then used with an empty topic; inbound alias mapping", () => {
  const h = connected({ version: 5 }, { topicAliasMaximum: 4 });
  h.publish("long/topic/name", 0, 1);
  h.publish("long/topic/name", 0, 2);
  const [a, b] = h.ofType(3);
  assert.equal(a.topic, "long/topic/name");
  assert.equal(a.properties.topicAlias, 1);
  assert.equal(b.topic, "");
  assert.equal(b.properties.topicAlias, 1);
  // Inbound: the server sets alias 3 then uses it.
  h.server({ type: 3, topic: "in/topic", payload: enc("1"), qos: 0, retain: false, dup: false, packetId: 0, properties: { topicAlias: 3 } });
  h.server({ type: 3, topic: "", payload: enc("2"), qos: 0, retain: false, dup: false, packetId: 0, properties: { topicAlias: 3 } });
  assert.deepEqual(h.messages().map((m) => m.topic), ["in/topic", "in/topic"]);
});

test("v5: server keep-alive, assigned client id and maximum packet size from CONNACK", () => {
  const h = connected({ version: 5, clientId: "" }, { serverKeepAlive: 5, assignedClientIdentifier: "auto-1", maximumPacketSize: 64 });
  const c = h.actions.find((a) => a.type === "connected") as any;
  assert.equal(c.info.keepAlive, 5);
  assert.equal(c.info.clientId, "auto-1");
  assert.equal(h.s.clientId, "auto-1");
  h.publish("big", 1, 1, "x".repeat(100));
  assert.equal(h.rejected(1).error.reasonCode, 0x95);
  h.tick(5000);
  assert.equal(h.ofType(12).length, 1, "pings at the server's keep-alive");
});

test("v5: server DISCONNECT closes with its reason", () => {
  const h = connected({ version: 5 });
  h.server({ type: 14, reasonCode: 0x8e, properties: { reasonString: "taken over" } });
  const c = h.closed();
  assert.equal(c.error.reasonCode, 0x8e);
  assert.match(c.error.message, /Session taken over \(0x8e\): taken over/);
});

test("CONNACK refusal closes with the reason (3.1.1 return code and 5.0 reason code)", () => {
  const h4 = new Harness({ version: 4 });
  h4.open();
  h4.server({ type: 2, sessionPresent: false, reasonCode: 5 });
  assert.match(h4.closed().error.message, /not authorized/);
  assert.equal(h4.closed().error.reasonCode, 0x87);
  const h5 = new Harness({ version: 5 });
  h5.open();
  h5.server({ type: 2, sessionPresent: false, reasonCode: 0x86 });
  assert.match(h5.closed().error.message, /Bad User Name or Password/);
});

test("LWT, credentials and persistent session are in CONNECT", () => {
  const h = new Harness({ version: 5, clean: false, expiry: 3600, username: "u", password: enc("p"), will: { topic: "dead", payload: enc("bye"), qos: 1, retain: true, delay: 30 } });
  h.open();
  const c = h.sent[0] as any;
  assert.equal(c.clean, false);
  assert.equal(c.properties.sessionExpiryInterval, 3600);
  assert.equal(c.username, "u");
  assert.deepEqual(c.will.topic, "dead");
  assert.equal(c.will.qos, 1);
  assert.equal(c.will.retain, true);
  assert.equal(c.will.properties.willDelayInterval, 30);
  const h4 = new Harness({ version: 4, clean: false });
  h4.open();
  assert.equal((h4.sent[0] as any).clean, false);
});

// Bad server input: each closes with a precise reason; on MQTT 5 a DISCONNECT carries the code.
const BAD: [string, number[] | ((h: Harness) => void), number, RegExp][] = [
  ["remaining length over 4 bytes", [0x30, 0xff, 0xff, 0xff, 0xff, 0x01], 0x81, /longer than 4 bytes/],
  ["reserved flags on PUBACK", [0x42, 0x02, 0x00, 0x01], 0x81, /reserved flags/],
  ["packet identifier 0", [0x40, 0x02, 0x00, 0x00], 0x81, /packet identifier 0/],
  ["reserved packet type 0", [0x00, 0x00], 0x81, /reserved packet type 0/],
  ["invalid UTF-8 in topic", [0x30, 0x05, 0x00, 0x02, 0xc0, 0x80, 0x00], 0x81, /invalid UTF-8: overlong/],
  ["surrogate in topic", [0x30, 0x06, 0x00, 0x03, 0xed, 0xa0, 0x80, 0x00], 0x81, /surrogate/],
  ["U+0000 in topic", [0x30, 0x05, 0x00, 0x02, 0x61, 0x00, 0x00], 0x81, /U\+0000/],
  ["duplicate property", [0x30, 0x0e, 0x00, 0x01, 0x74, 0x0a, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2], 0x82, /duplicate property messageExpiryInterval/],
  ["packet too large", [0x30, 0xff, 0xff, 0x03], 0x95, /exceeds maximum packet size/],
  ["PUBACK for an unknown packet", [0x40, 0x02, 0x12, 0x34], 0x82, /PUBACK for packet 4660/],
  ["SUBSCRIBE from the server", [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x00], 0x82, /must not send SUBSCRIBE/],
  ["second CONNACK", [0x20, 0x03, 0x00, 0x00, 0x00], 0x82, /second CONNACK/],
  ["topic alias above maximum", (h) => h.server({ type: 3, topic: "t", payload: enc(""), qos: 0, retain: false, dup: false, packetId: 0, properties: { topicAlias: 17 } }), 0x94, /topic alias 17 outside 1..16/],
  ["unknown topic alias", (h) => h.server({ type: 3, topic: "", payload: enc(""), qos: 0, retain: false, dup: false, packetId: 0, properties: { topicAlias: 2 } }), 0x82, /used before it was set/],
  ["receive maximum exceeded", (h) => { for (let i = 1; i <= 33; i++) h.server({ type: 3, topic: "t", payload: enc(""), qos: 2, retain: false, dup: false, packetId: i }); }, 0x93, /more than 32 QoS 2/],
];

for (const [name, input, code, re] of BAD) {
  test(`v5 bad input closes: ${name}`, () => {
    const h = connected({ version: 5 });
    if (typeof input === "function") input(h);
    else h.raw(input);
    const c = h.closed();
    assert.ok(c, "closed");
    assert.equal(c.error.reasonCode, code);
    assert.match(c.error.message, re);
    const d = h.ofType(14)[0];
    assert.equal(d?.reasonCode, code, "DISCONNECT carries the reason");
    // Nothing more is processed after the close.
    const after = h.take(h.s.receive(encode({ type: 13 }, 5), 0));
    assert.equal(after.filter((a) => a.type !== "timer").length, 0);
  });
}

test("bad input before CONNACK, truncated stream, no CONNACK, and v4 DISCONNECT from server", () => {
  const h = new Harness({ version: 5 });
  h.open();
  h.server({ type: 13 });
  assert.match(h.closed().error.message, /PINGRESP received before CONNACK/);
  const t = connected({ version: 4 });
  t.raw([0x30, 0x10, 0x00]);
  t.take(t.s.lost(0));
  assert.match(t.closed().error.message, /truncated stream/);
  const n = new Harness({ version: 4, connectTimeoutMs: 5000 });
  n.open();
  n.tick(5000);
  assert.match(n.closed().error.message, /no CONNACK within 5000 ms/);
  const d = connected({ version: 4 });
  d.raw([0xe0, 0x00]);
  assert.match(d.closed().error.message, /not allowed in MQTT 3.1.1/);
});

test("frames split at every byte boundary are reassembled", () => {
  const h = connected({ version: 5 });
  const b = encode({ type: 3, topic: "split/me", payload: enc("payload"), qos: 1, retain: false, dup: false, packetId: 3 }, 5);
  const two = new Uint8Array([...b, ...b.map((x, i) => (i === 5 + 8 ? x : x))]);
  for (let i = 0; i < two.length; i++) h.raw([two[i]]);
  assert.equal(h.messages().length, 2);
  assert.ok(!h.closed());
});

test("topic matching and filter validation", () => {
  const cases: [string, string, boolean][] = [
    ["a/b", "a/b", true], ["a/+", "a/b", true], ["a/+", "a/b/c", false], ["a/#", "a", true], ["a/#", "a/b/c", true],
    ["#", "a/b", true], ["#", "$SYS/x", false], ["+/x", "$SYS/x", false], ["$SYS/#", "$SYS/x", true], ["+", "", true],
    ["a//b", "a//b", true], ["a/+/b", "a//b", true], ["+/+", "/x", true], ["a/b", "a/b/", false], ["$share/g/a/+", "a/b", true],
  ];
  for (const [f, t, want] of cases) assert.equal(topicMatches(f, t), want, `${f} ~ ${t}`);
  for (const f of ["a/#/b", "a+", "#/a", "$share/g", ""]) assert.equal(isValidFilter(f), false, f);
  for (const f of ["a/+/b", "#", "+", "$share/g/a/#"]) assert.equal(isValidFilter(f), true, f);
});

test("a PUBLISH over our maximum packet size is refused at publish(), connected or not; the server's smaller maximum applies once CONNACK told it", () => {
  for (const connectedFirst of [true, false]) {
    const h = connectedFirst ? connected({ version: 5, limits: { maxPacketSize: 100 } }, { maximumPacketSize: 60 }) : new Harness({ version: 5, limits: { maxPacketSize: 100 } });
    h.s.publish("t", new Uint8Array(120), 1, false, undefined, 1, 0);
    assert.equal(h.rejected(1)?.error.reasonCode, 0x95, "over our own 100 B");
    if (!connectedFirst) {
      // Under our limit: it waits, and goes out pipelined before CONNACK tells the server's maximum.
      h.s.publish("t", new Uint8Array(70), 1, false, undefined, 9, 0);
      assert.ok(!h.rejected(9));
      h.open();
      assert.equal(h.ofType(3).length, 1);
      h.connack({ maximumPacketSize: 60 });
    }
    h.s.publish("t", new Uint8Array(70), 1, false, undefined, 2, 0);
    assert.equal(h.rejected(2)?.error.reasonCode, 0x95, "over the server's 60 B");
    h.s.publish("t", new Uint8Array(10), 1, false, undefined, 3, 0);
    assert.equal(h.ofType(3).filter((p: any) => p.payload.length === 10).length, 1, "the small one went out");
  }
});
