// RFC 8949 Appendix A vectors (hand-copied), for the subset xsiot supports.
// `enc: true` marks vectors whose bytes are also what encode() must produce
// (preferred serialization of a value JS can represent: integral floats such as
// 1.0 are plain integers in JS and encode as integers, so they are decode-only).
import { test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode, CborError } from "../../sdk/cbor/index.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

type V = [hex: string, value: unknown, enc: boolean];
const range25 = Array.from({ length: 25 }, (_, i) => i + 1);

const vectors: V[] = [
  ["00", 0, true],
  ["01", 1, true],
  ["0a", 10, true],
  ["17", 23, true],
  ["1818", 24, true],
  ["1819", 25, true],
  ["1864", 100, true],
  ["1903e8", 1000, true],
  ["1a000f4240", 1000000, true],
  ["1b000000e8d4a51000", 1000000000000, true],
  ["20", -1, true],
  ["29", -10, true],
  ["3863", -100, true],
  ["3903e7", -1000, true],
  ["f90000", 0, false],
  ["f98000", -0, true],
  ["f93c00", 1, false],
  ["fb3ff199999999999a", 1.1, true],
  ["f93e00", 1.5, true],
  ["f97bff", 65504, false],
  ["fa47c35000", 100000, false],
  ["fa7f7fffff", 3.4028234663852886e38, true],
  ["fb7e37e43c8800759c", 1.0e300, true],
  ["f90001", 5.960464477539063e-8, true],
  ["f90400", 0.00006103515625, true],
  ["f9c400", -4, false],
  ["fbc010666666666666", -4.1, true],
  ["f97c00", Infinity, true],
  ["f97e00", NaN, true],
  ["f9fc00", -Infinity, true],
  ["fa7f800000", Infinity, false],
  ["fa7fc00000", NaN, false],
  ["faff800000", -Infinity, false],
  ["fb7ff0000000000000", Infinity, false],
  ["fb7ff8000000000000", NaN, false],
  ["fbfff0000000000000", -Infinity, false],
  ["f4", false, true],
  ["f5", true, true],
  ["f6", null, true],
  ["f7", undefined, true],
  ["40", new Uint8Array(0), true],
  ["4401020304", Uint8Array.of(1, 2, 3, 4), true],
  ["60", "", true],
  ["6161", "a", true],
  ["6449455446", "IETF", true],
  ["62225c", '"\\', true],
  ["62c3bc", "\u00fc", true],
  ["63e6b0b4", "\u6c34", true],
  ["64f0908591", "\ud800\udd51", true],
  ["80", [], true],
  ["83010203", [1, 2, 3], true],
  ["8301820203820405", [1, [2, 3], [4, 5]], true],
  ["98190102030405060708090a0b0c0d0e0f101112131415161718181819", range25, true],
  ["a0", {}, true],
  ["a201020304", { 1: 2, 3: 4 }, false],
  ["a26161016162820203", { a: 1, b: [2, 3] }, true],
  ["826161a161626163", ["a", { b: "c" }], true],
  ["a56161614161626142616361436164614461656145", { a: "A", b: "B", c: "C", d: "D", e: "E" }, true],
  ["5f42010243030405ff", Uint8Array.of(1, 2, 3, 4, 5), false],
  ["7f657374726561646d696e67ff", "streaming", false],
  ["9fff", [], false],
  ["9f018202039f0405ffff", [1, [2, 3], [4, 5]], false],
  ["9f01820203820405ff", [1, [2, 3], [4, 5]], false],
  ["83018202039f0405ff", [1, [2, 3], [4, 5]], false],
  ["83019f0203ff820405", [1, [2, 3], [4, 5]], false],
  ["9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff", range25, false],
  ["bf61610161629f0203ffff", { a: 1, b: [2, 3] }, false],
  ["826161bf61626163ff", ["a", { b: "c" }], false],
  ["bf6346756ef563416d7421ff", { Fun: true, Amt: -2 }, false],
];

test("RFC 8949 Appendix A: decode", () => {
  for (const [h, value] of vectors) {
    const got = decode(hex(h));
    if (typeof value === "number" && Number.isNaN(value)) assert.ok(Number.isNaN(got), h);
    else assert.deepStrictEqual(got, value, h);
  }
});

test("RFC 8949 Appendix A: -0.0 keeps its sign", () => {
  assert.ok(Object.is(decode(hex("f98000")), -0));
  assert.ok(Object.is(decode(hex("f90000")), 0));
});

test("RFC 8949 Appendix A: encode (preferred serialization)", () => {
  let n = 0;
  for (const [h, value, enc] of vectors) {
    if (!enc) continue;
    assert.equal(toHex(encode(value)), h, `encode ${String(value)}`);
    n++;
  }
  assert.ok(n >= 45);
});

test("RFC 8949 Appendix A: integral floats encode as integers, -0 as float16", () => {
  assert.equal(toHex(encode(1.0)), "01");
  assert.equal(toHex(encode(65504.0)), "19ffe0");
  assert.equal(toHex(encode(-4.0)), "23");
  assert.equal(toHex(encode(new Map([[1, 2], [3, 4]]))), "a201020304");
});

test("RFC 8949 Appendix A: out-of-subset vectors are CborError", () => {
  const cases: [string, RegExp][] = [
    ["1bffffffffffffffff", /integer magnitude exceeds 2\^53-1/], // 18446744073709551615
    ["3bffffffffffffffff", /integer magnitude exceeds 2\^53-1/], // -18446744073709551616
    ["c249010000000000000000", /tag 2 is not supported/], // bignum
    ["c349010000000000000000", /tag 3 is not supported/],
    ["f0", /simple value 16 is not supported/],
    ["f8ff", /simple value 255 is not supported/],
    ["c074323031332d30332d32315432303a30343a30305a", /tag 0 is not supported/],
    ["c11a514b67b0", /tag 1 is not supported/],
    ["d74401020304", /tag 23 is not supported/],
  ];
  for (const [h, re] of cases) {
    assert.throws(() => decode(hex(h)), (e: unknown) => e instanceof CborError && re.test(e.message), h);
  }
});

test("RFC 8949 Appendix A: tags skipped with tags: 'skip'", () => {
  const skip = { tags: "skip" as const };
  assert.equal(decode(hex("c074323031332d30332d32315432303a30343a30305a"), skip), "2013-03-21T20:04:00Z");
  assert.equal(decode(hex("c11a514b67b0"), skip), 1363896240);
  assert.equal(decode(hex("c1fb41d452d9ec200000"), skip), 1363896240.5);
  assert.deepStrictEqual(decode(hex("d74401020304"), skip), Uint8Array.of(1, 2, 3, 4));
  assert.deepStrictEqual(decode(hex("d818456449455446"), skip), hex("6449455446"));
  assert.equal(decode(hex("d82076687474703a2f2f7777772e6578616d706c652e636f6d"), skip), "http://www.example.com");
  assert.deepStrictEqual(decode(hex("c249010000000000000000"), skip), hex("010000000000000000"));
});

test("integer bounds: 2^53-1 both signs decode, one more is an error", () => {
  assert.equal(decode(hex("1b001fffffffffffff")), Number.MAX_SAFE_INTEGER);
  assert.equal(decode(hex("3b001ffffffffffffe")), -Number.MAX_SAFE_INTEGER);
  assert.throws(() => decode(hex("1b0020000000000000")), CborError);
  assert.throws(() => decode(hex("3b001fffffffffffff")), CborError);
  assert.equal(toHex(encode(Number.MAX_SAFE_INTEGER)), "1b001fffffffffffff");
  assert.equal(toHex(encode(-Number.MAX_SAFE_INTEGER)), "3b001ffffffffffffe");
  // 2^53 is not a safe integer: written as the shortest exact float (float32 0x5a000000).
  assert.equal(toHex(encode(2 ** 53)), "fa5a000000");
});
