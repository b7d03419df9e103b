// Round trips against cbor-x, an independent CBOR implementation, on seeded random values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Encoder, Decoder } from "cbor-x";
import { decode, encode } from "../../sdk/cbor/index.ts";
import { prng, randomValue, plain } from "./gen.ts";

const N = 3000;
// Options cbor-x supports but its typings omit are passed through variables (no excess-property check).
// useTag259ForMaps: false -> Maps as plain CBOR maps; int64AsNumber -> 8-byte integers as numbers, not bigint.
const encOpts = { useRecords: false, mapsAsObjects: true, tagUint8Array: false, useTag259ForMaps: false };
const encMapOpts = { ...encOpts, mapsAsObjects: false };
const decOpts = { useRecords: false, mapsAsObjects: true, int64AsNumber: true };
const decMapOpts = { ...decOpts, mapsAsObjects: false };
const cxEnc = new Encoder(encOpts);
const cxDec = new Decoder(decOpts);
const cxDecMaps = new Decoder(decMapOpts);

test("xsiot encode -> cbor-x decode returns the original value", () => {
  const r = prng(0xc0ffee);
  for (let i = 0; i < N; i++) {
    const v = randomValue(r, 0, { negativeZero: true, undefinedValues: true });
    const bytes = encode(v, { maxLength: 1 << 20 });
    assert.deepStrictEqual(plain(cxDec.decode(bytes)), v, `case ${i}`);
  }
});

test("cbor-x encode -> xsiot decode returns the original value", () => {
  const r = prng(0xbeef);
  for (let i = 0; i < N; i++) {
    const v = randomValue(r, 0, { undefinedValues: true });
    const bytes = cxEnc.encode(v);
    assert.deepStrictEqual(decode(bytes, { maxLength: 1 << 20 }), v, `case ${i}`);
  }
});

test("cbor-x float32 encoding (useFloat32: ALWAYS) decodes to the same float32 values", () => {
  const f32 = new Encoder({ useRecords: false, useFloat32: 1, tagUint8Array: false });
  const r = prng(7);
  for (let i = 0; i < 2000; i++) {
    const v = Math.fround((r() - 0.5) * 10 ** Math.floor(r() * 20 - 10));
    const bytes = f32.encode(v);
    assert.ok(Object.is(decode(bytes), cxDec.decode(bytes)), `value ${v}`);
  }
});

test("Maps with integer keys: both directions", () => {
  const m = new Map<string | number, unknown>([[1, "a"], [-7, [1, 2]], ["f", 3], [100000, new Uint8Array([9])]]);
  const mine = encode(m);
  assert.deepStrictEqual(plain(cxDecMaps.decode(mine)), m);
  const theirs = new Encoder(encMapOpts).encode(m);
  assert.deepStrictEqual(decode(theirs, { maps: "map" }), m);
  assert.deepStrictEqual(decode(theirs), { 1: "a", "-7": [1, 2], f: 3, 100000: new Uint8Array([9]) });
});

test("the same random values round-trip through xsiot alone, in both map modes", () => {
  const r = prng(42);
  for (let i = 0; i < N; i++) {
    const v = randomValue(r, 0, { negativeZero: true, undefinedValues: true });
    const bytes = encode(v);
    assert.deepStrictEqual(decode(bytes), v);
    assert.deepStrictEqual(decode(bytes, { copyBytes: true }), v);
  }
});
