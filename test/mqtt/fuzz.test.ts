import { test } from "node:test";
import assert from "node:assert/strict";
import { fuzz, mutate } from "./fuzz.ts";
import { Session } from "../../sdk/mqtt/session.ts";
import { v5 } from "../../sdk/mqtt/v5.ts";
import { encode } from "../../sdk/mqtt/codec.ts";
import { MqttProtocolError } from "../../sdk/mqtt/error.ts";
import { rng, int, pick, chance, packet } from "./gen.ts";

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

// The client's own decoder is the session's (it does not use the full codec):
// server packets of every type, mutated, in random chunks, and random bytes.
// Each input either passes or closes the session with an MqttProtocolError
// carrying a failure reason code; nothing is thrown, and no foreign exception
// is wrapped as 0x83 (internal error).
test("fuzz: a session fed mutated server packets and random bytes closes with an MqttProtocolError and never throws", () => {
  const r = rng(99);
  const SERVER = [2, 3, 4, 5, 6, 7, 9, 11, 13, 14, 15];
  const valid: Uint8Array[][] = [[], [], [], [], [], []];
  for (const v of [4, 5] as const) {
    for (const t of SERVER) {
      if (v === 4 && t >= 14) continue;
      for (let k = 0; k < 10; k++) valid[v].push(encode(packet(r, t, v), v, { maxPacketSize: 1 << 20, maxTopicLength: 65535, maxProperties: 64 }));
    }
  }
  let closes = 0, passed = 0;
  for (let i = 0; i < 20000; i++) {
    const v = i % 2 ? 5 : 4;
    let error: unknown = undefined;
    let down = false;
    const ev = {
      send() {}, timer() {}, up() {}, message() {}, done() {},
      down(e: unknown) { down = true; error = e; },
    };
    const s = new Session({ version: v, clientId: "c", keepAlive: 0, clean: true, limits: { maxPacketSize: 4096 } }, ev, v5);
    s.open(0);
    s.receive(Uint8Array.from(v === 5 ? [0x20, 3, 0, 0, 0] : [0x20, 2, 0, 0]), 0);
    assert.ok(s.connected);
    let input: Uint8Array;
    if (chance(r, 0.8)) {
      const parts: number[] = [];
      const n = int(r, 1, 3);
      for (let j = 0; j < n; j++) {
        const p = pick(r, valid[v]);
        parts.push(...(j === 0 ? mutate(r, p) : p));
      }
      input = Uint8Array.from(parts);
    } else input = new Uint8Array(int(r, 1, 40)).map(() => int(r, 0, 255));
    for (let at = 0; at < input.length && !down; ) {
      const end = Math.min(input.length, at + int(r, 1, 16));
      s.receive(input.slice(at, end), 1);
      at = end;
    }
    if (down) {
      closes++;
      assert.ok(error instanceof MqttProtocolError, `iteration ${i}: ${error}`);
      const code = (error as MqttProtocolError).reasonCode;
      // A server DISCONNECT may carry any reason, Normal (0) included.
      const fromServer = /^server disconnected/.test((error as Error).message);
      assert.ok(fromServer || (code >= 0x80 && code !== 0x83), `iteration ${i}: reason 0x${code.toString(16)} ${(error as Error).message} input ${Buffer.from(input).toString("hex")}`);
    } else passed++;
  }
  assert.ok(closes > 2000 && passed > 2000, `${closes} closed, ${passed} passed`);
});
