import { test } from "node:test";
import assert from "node:assert/strict";
import { fuzz } from "./fuzz.ts";
import { Session } from "../../sdk/mqtt/session.ts";
import { MqttProtocolError } from "../../sdk/mqtt/error.ts";
import { rng, int } from "./gen.ts";

test("fuzz: 120,000 mutated and random inputs through frame reader and decoder throw only MqttProtocolError", () => {
  let total = 0, decoded = 0, rejected = 0;
  for (const seed of [1, 2, 3, 4]) {
    const r = fuzz(seed, 30000);
    total += r.iterations;
    decoded += r.decoded;
    rejected += r.rejected;
  }
  assert.equal(total, 120000);
  // Both outcomes occur: the mutations are neither all fatal nor all harmless.
  assert.ok(decoded > 10000, `decoded ${decoded}`);
  assert.ok(rejected > 10000, `rejected ${rejected}`);
});

test("fuzz: a session fed random bytes after CONNACK closes with an MqttProtocolError and never throws", () => {
  const r = rng(99);
  for (let i = 0; i < 3000; i++) {
    const v = i % 2 ? 5 : 4;
    const s = new Session({ version: v, clientId: "c", keepAlive: 0, clean: true });
    s.open(0);
    s.receive(Uint8Array.from([0x20, v === 5 ? 3 : 2, 0, 0, 0].slice(0, v === 5 ? 5 : 4)), 0);
    assert.ok(s.connected);
    const junk = new Uint8Array(int(r, 1, 40)).map(() => int(r, 0, 255));
    const actions = s.receive(junk, 1);
    for (const a of actions) if (a.type === "close") assert.ok(a.error instanceof MqttProtocolError);
  }
});
