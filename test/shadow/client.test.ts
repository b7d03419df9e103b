// ShadowClient state machine in Node over a fake MqttConnection and manual timers.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { register } from "node:module";
import { FakeConn, FakeTimers, settle } from "../jobs/shims/fake.ts";

let ShadowClient: typeof import("../../sdk/shadow/client.ts").ShadowClient;
let ShadowError: typeof import("../../sdk/shadow/client.ts").ShadowError;
before(async () => {
  (globalThis as any).trace = () => {};
  register(new URL("../jobs/shims/hooks.mjs", import.meta.url));
  ({ ShadowClient, ShadowError } = await import("../../sdk/shadow/client.ts"));
});

const P = "$aws/things/t1/shadow";
function setup(opts: Record<string, unknown> = {}) {
  const conn = new FakeConn();
  const timers = new FakeTimers();
  const logs: string[] = [];
  const shadow = new ShadowClient(conn, { thingName: "t1", timers, log: (l) => logs.push(l), timeoutMs: 1000, ...opts });
  return { conn, timers, logs, shadow };
}
/** Answers the last request on topic with accepted (body merged with its clientToken). */
function answer(conn: FakeConn, op: string, body: object, rejected = false) {
  const req = conn.last(`/${op}`)!;
  assert.ok(req, `a ${op} request was sent`);
  const base = req.topic;
  conn.deliver(`${base}/${rejected ? "rejected" : "accepted"}`, { ...body, clientToken: req.json.clientToken });
}

test("start: subscribes first (waits for SUBACK), then get -> apply desired vs reported -> report", async () => {
  const { conn, shadow, logs } = setup();
  const seen: unknown[] = [];
  shadow.onDelta("interval", (v) => {
    seen.push(v);
    return v;
  });
  const started = shadow.start();
  await settle();
  assert.deepEqual(conn.subscribed, [`${P}/get/accepted`, `${P}/get/rejected`, `${P}/update/accepted`, `${P}/update/rejected`, `${P}/update/delta`]);
  assert.equal(conn.published.length, 1);
  assert.equal(conn.published[0].topic, `${P}/get`);
  assert.equal(typeof conn.published[0].json.clientToken, "string");
  // Answers for someone else's token are ignored.
  conn.deliver(`${P}/get/accepted`, { state: {}, version: 99, clientToken: "other" });
  answer(conn, "get", { state: { desired: { interval: 30, mode: "eco" }, reported: { interval: 60, mode: "eco" } }, version: 7 });
  await settle();
  assert.deepEqual(seen, [30], "only the key that differs is applied");
  const upd = conn.last("/update")!;
  assert.deepEqual(upd.json.state, { reported: { interval: 30 } });
  answer(conn, "update", { state: { reported: { interval: 30 } }, version: 8 });
  const doc = await started;
  assert.equal(doc?.version, 7);
  await settle();
  assert.equal(shadow.version, 8);
  assert.deepEqual(shadow.reported, { interval: 30, mode: "eco" });
  assert.deepEqual(logs, []);
});

test("get of a shadow that does not exist resolves undefined; other rejections are ShadowErrors with the code", async () => {
  const { conn, shadow } = setup();
  const g = shadow.get();
  await settle();
  answer(conn, "get", { code: 404, message: "No shadow exists" }, true);
  assert.equal(await g, undefined);
  const u = shadow.report({ a: 1 });
  await settle();
  answer(conn, "update", { code: 409, message: "Version conflict" }, true);
  await assert.rejects(u, (e: any) => e instanceof ShadowError && e.code === 409 && /update rejected: 409 Version conflict/.test(e.message));
});

test("a request without an answer times out (clientToken correlation); a late answer is ignored", async () => {
  const { conn, shadow, timers } = setup();
  const u = shadow.report({ a: 1 });
  await settle();
  const token = conn.last("/update")!.json.clientToken;
  await timers.advance(999);
  let done = false;
  u.catch(() => (done = true));
  await settle();
  assert.equal(done, false, "not before timeoutMs");
  await timers.advance(1);
  await assert.rejects(u, (e: any) => e.code === "timeout" && /no answer to update within 1000 ms/.test(e.message));
  conn.deliver(`${P}/update/accepted`, { version: 50, clientToken: token });
  assert.equal(shadow.version, 0, "late answer ignored");
  assert.equal(timers.pending, 0);
});

test("a publish that fails rejects at once with a ShadowError", async () => {
  const { conn, shadow } = setup();
  conn.failPublish = true;
  await assert.rejects(shadow.get(), (e: any) => e.code === "publish" && /connection lost/.test(e.message));
});

test("policy refusal: start() rejects with a clear ShadowError and nothing is published", async () => {
  const { conn, shadow } = setup({ thingName: "other" });
  conn.grant = (filter) => ({ filter, reasonCode: 0x87 });
  await assert.rejects(shadow.start(), (e: any) => e.code === "subscribe" && /shadow other: not authorized: the broker refused the subscription to \$aws\/things\/other\/shadow\/get\/accepted \(reason 0x87\)/.test(e.message));
  assert.equal(conn.published.length, 0);
  assert.ok(shadow.error);
  await assert.rejects(shadow.report({ a: 1 }), /not authorized/);
});

test("deltas: applied in version order; stale and out-of-order versions ignored with a reason", async () => {
  const { conn, shadow, logs } = setup();
  const seen: unknown[] = [];
  shadow.onDelta("interval", (v) => (seen.push(v), v));
  shadow.version = 10;
  conn.deliver(`${P}/update/delta`, { version: 12, state: { interval: 30 } });
  conn.deliver(`${P}/update/delta`, { version: 11, state: { interval: 20 } }); // out of order
  conn.deliver(`${P}/update/delta`, { version: 12, state: { interval: 25 } }); // duplicate version
  conn.deliver(`${P}/update/delta`, { version: 9, state: { interval: 5 } }); // stale
  await settle();
  assert.deepEqual(seen, [30]);
  assert.equal(logs.filter((l) => /delta ignored: stale version (11|12|9) \(known 12\)/.test(l)).length, 3, logs.join("\n"));
  assert.deepEqual(conn.last("/update")!.json.state, { reported: { interval: 30 } });
});

test("handlers: a throwing handler refuses its key (logged, nothing reported); async handlers; root handler takes the rest; no handler is logged", async () => {
  const { conn, shadow, logs } = setup();
  shadow.onDelta("interval", (v) => {
    if (typeof v !== "number") throw new TypeError("interval must be a number");
    return v;
  });
  shadow.onDelta("led", async (v) => (await Promise.resolve(), v === "on" ? "on" : "off"));
  conn.deliver(`${P}/update/delta`, { version: 1, state: { interval: "fast", led: "on", extra: 1 } });
  await settle();
  assert.ok(logs.some((l) => /desired\.interval refused \(delta v1\): interval must be a number/.test(l)));
  assert.ok(logs.some((l) => /desired extra ignored \(delta v1\): no handler/.test(l)));
  assert.deepEqual(conn.last("/update")!.json.state, { reported: { led: "on" } });
  answer(conn, "update", { version: 2 }); // applies run one at a time: the next waits for this report
  const rest: unknown[] = [];
  shadow.onDelta("*", (d) => (rest.push(d), { extra: d.extra }));
  conn.deliver(`${P}/update/delta`, { version: 3, state: { extra: 2, more: { a: 1 } } });
  await settle();
  assert.deepEqual(rest, [{ extra: 2, more: { a: 1 } }]);
  assert.deepEqual(conn.last("/update")!.json.state, { reported: { extra: 2 } });
});

test("hostile input: bad JSON, wrong types, oversized, too deep, binary garbage: ignored with a reason, never a throw", async () => {
  const { conn, shadow, logs } = setup({ maxDocumentBytes: 1024 });
  let applied = 0;
  shadow.onDelta("*", () => (applied++, undefined));
  const bad: (string | object | Uint8Array)[] = [
    "{not json",
    "[]",
    "42",
    "",
    { version: "7", state: { a: 1 } },
    { version: -1, state: { a: 1 } },
    { version: 1.5, state: { a: 1 } },
    { version: 3, state: [1, 2] },
    { version: 3, state: null },
    JSON.stringify({ version: 3, state: { a: "x".repeat(2000) } }),
    "[".repeat(5000) + "]".repeat(5000),
    `{"version":3,"state":{"a":${"[".repeat(40)}${"]".repeat(40)}}}`,
    new Uint8Array([0xff, 0xfe, 0x00, 0x7b, 0x80]),
  ];
  for (const b of bad) for (const t of ["update/delta", "get/accepted", "get/rejected", "update/accepted", "update/rejected"]) conn.deliver(`${P}/${t}`, b);
  await settle();
  assert.equal(applied, 0);
  const text = logs.join("\n");
  for (const reason of ["invalid JSON", "document is not a JSON object", "empty document", "no valid version", "state is not an object", "exceeds 1024", "nests deeper than 10"])
    assert.ok(text.includes(reason), `logged: ${reason}`);
  // Unknown fields are fine; the client still works.
  conn.deliver(`${P}/update/delta`, { version: 5, state: { a: 1 }, surprise: { x: 1 } });
  await settle();
  assert.equal(applied, 1);
});

test("named shadows use $aws/things/T/shadow/name/N; names are validated", async () => {
  const { conn, shadow } = setup({ shadowName: "config" });
  assert.equal(shadow.prefix, "$aws/things/t1/shadow/name/config");
  const g = shadow.get();
  await settle();
  assert.equal(conn.published[0].topic, "$aws/things/t1/shadow/name/config/get");
  answer(conn, "get", { state: { reported: { a: 1 } }, version: 3 });
  assert.equal((await g)?.version, 3);
  assert.throws(() => setup({ shadowName: "bad/name" }), RangeError);
  assert.throws(() => setup({ thingName: "#" }), RangeError);
});

test("close rejects what is waiting and stops routing", async () => {
  const { conn, shadow, timers } = setup();
  const g = shadow.get();
  shadow.close();
  await assert.rejects(g, (e: any) => e.code === "closed");
  assert.equal(conn.routes.length, 0);
  assert.equal(timers.pending, 0);
});
