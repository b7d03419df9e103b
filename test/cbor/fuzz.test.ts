// Seeded fuzz: random and mutated inputs. The decoder may accept or reject, but it
// throws nothing except CborError, and what it accepts re-encodes to an equal value.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode, CborError, type DecodeOptions } from "../../sdk/cbor/index.ts";
import { prng, randomValue } from "./gen.ts";

const CASES = 120_000;
const SEED = Number(process.env.CBOR_FUZZ_SEED ?? 0x5eed);
const HEADS = [0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x3b, 0x5f, 0x7f, 0x9f, 0xbf, 0xff, 0xf9, 0xfa, 0xfb, 0xc1, 0xd8, 0x9b, 0xbb, 0x5b, 0x7b, 0xf8];
const OPTIONS: DecodeOptions[] = [
  {},
  { maps: "map", tags: "skip" },
  { maxDepth: 3, maxItems: 20, copyBytes: true },
];

function mutate(r: () => number, src: Uint8Array): Uint8Array {
  const b = Array.from(src);
  const k = 1 + Math.floor(r() * 4);
  for (let j = 0; j < k; j++) {
    const at = Math.floor(r() * (b.length + 1));
    switch (Math.floor(r() * 6)) {
      case 0: if (b.length) b[at % b.length] ^= 1 << Math.floor(r() * 8); break;
      case 1: if (b.length) b[at % b.length] = Math.floor(r() * 256); break;
      case 2: b.splice(at, 0, HEADS[Math.floor(r() * HEADS.length)]); break;
      case 3: b.splice(at, 1 + Math.floor(r() * 4)); break;
      case 4: b.length = Math.floor(r() * b.length); break;
      default: b.splice(at, 0, ...b.slice(0, Math.floor(r() * 8))); break;
    }
  }
  return Uint8Array.from(b);
}

test(`fuzz: ${CASES} seeded random/mutated inputs, only CborError escapes (seed ${SEED})`, () => {
  const r = prng(SEED);
  const started = Date.now();
  let accepted = 0;
  let rejected = 0;
  const seeds: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) seeds.push(encode(randomValue(r, 0, { negativeZero: true, undefinedValues: true }), { maxLength: 1 << 20 }));
  for (let i = 0; i < CASES; i++) {
    let input: Uint8Array;
    const kind = r();
    if (kind < 0.25) {
      input = new Uint8Array(Math.floor(r() * 48));
      for (let j = 0; j < input.length; j++) input[j] = r() < 0.3 ? HEADS[Math.floor(r() * HEADS.length)] : Math.floor(r() * 256);
    } else input = mutate(r, seeds[Math.floor(r() * seeds.length)]);
    const opts = OPTIONS[i % OPTIONS.length];
    let value: unknown;
    try {
      value = decode(input, opts);
    } catch (e) {
      if (!(e instanceof CborError)) assert.fail(`case ${i} input ${Buffer.from(input).toString("hex")}: threw ${String(e)}`);
      rejected++;
      continue;
    }
    accepted++;
    // Whatever was accepted is a supported value: it encodes, and decodes back equal.
    const again = decode(encode(value, { maxLength: 1 << 20, maxDepth: 16 }), { ...opts, tags: "reject", maxLength: 1 << 20 });
    assert.deepStrictEqual(again, value, `case ${i}`);
  }
  const ms = Date.now() - started;
  assert.ok(accepted > CASES / 50, `too few accepted inputs (${accepted}): the fuzzer is not reaching the decoder`);
  assert.ok(rejected > CASES / 10, `too few rejected inputs (${rejected})`);
  assert.ok(ms < 15000, `fuzz run took ${ms} ms`);
});
