// Malformed input, limits and unsupported values: always CborError, with a precise message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode, encodeInto, encodedLength, CborError, DEFAULT_LIMITS } from "../../sdk/cbor/index.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
function rejects(fn: () => unknown, re: RegExp, offset?: number) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CborError, `not a CborError: ${String(e)}`);
    assert.match(e.message, re);
    if (offset !== undefined) assert.equal(e.offset, offset);
    return true;
  });
}

test("malformed input", () => {
  rejects(() => decode(hex("")), /empty input/, 0);
  rejects(() => decode(hex("18")), /unexpected end of input \(need 1 more bytes, have 0\)/, 1);
  rejects(() => decode(hex("1a0000")), /unexpected end of input/, 1);
  rejects(() => decode(hex("4401")), /unexpected end of input \(need 4 more bytes, have 1\)/, 1);
  rejects(() => decode(hex("0001")), /1 trailing bytes/, 1);
  rejects(() => decode(hex("ff")), /unexpected break/, 0);
  rejects(() => decode(hex("8201ff")), /unexpected break/, 2);
  rejects(() => decode(hex("1c")), /reserved additional information 28/, 0);
  rejects(() => decode(hex("5d")), /reserved additional information 29/, 0);
  rejects(() => decode(hex("1f")), /indefinite length is not allowed for major type 0/);
  rejects(() => decode(hex("3f")), /indefinite length is not allowed for major type 1/);
  rejects(() => decode(hex("df")), /indefinite length is not allowed for major type 6/);
  rejects(() => decode(hex("f818")), /simple value 24 in two-byte form is not well-formed/);
  rejects(() => decode(hex("9f01")), /unexpected end of input/);
  rejects(() => decode(hex("5f4101")), /unexpected end of input/);
  rejects(() => decode(hex("5f6161ff")), /chunk of an indefinite-length byte string/);
  rejects(() => decode(hex("5f5f4101ffff")), /chunk of an indefinite-length byte string/);
  rejects(() => decode(hex("7f4161ff")), /chunk of an indefinite-length text string/);
  rejects(() => decode(hex("bf6161ff")), /map has a key without a value/);
  rejects(() => decode(hex("a1616101a0")), /trailing bytes/);
  rejects(() => decode(hex("9bffffffffffffffff")), /length exceeds 2\^53-1/);
  rejects(() => decode(hex("9a7fffffff")), /declared 2147483647 entries but only 0 bytes remain/);
  rejects(() => decode(hex("ba00010000")), /declared 65536 entries/);
});

test("strict UTF-8 in text strings", () => {
  rejects(() => decode(hex("62c0af")), /invalid UTF-8 lead byte 0xc0/, 1); // overlong '/'
  rejects(() => decode(hex("63e08080")), /overlong UTF-8 sequence/, 1);
  rejects(() => decode(hex("63eda080")), /invalid code point/, 1); // U+D800
  rejects(() => decode(hex("64f4908080")), /invalid code point/, 1); // U+110000
  rejects(() => decode(hex("61ff")), /invalid UTF-8 lead byte 0xff/);
  rejects(() => decode(hex("6180")), /invalid UTF-8 lead byte 0x80/);
  rejects(() => decode(hex("62e6b0")), /truncated UTF-8 sequence/);
  rejects(() => decode(hex("62c341")), /invalid UTF-8 continuation byte/, 2);
  // A chunk of an indefinite text string must be valid on its own (a code point split across chunks is not).
  rejects(() => decode(hex("7f61c361bcff")), /truncated UTF-8 sequence/);
  assert.equal(decode(hex("63efbbbf")), "\ufeff"); // a BOM is data, not stripped
  assert.equal(decode(hex("64f48fbfbf")), "\u{10ffff}");
  const long = "é€𝄞a".repeat(500);
  assert.equal(decode(encode(long)), long);
});

test("maps: key types, duplicates, __proto__", () => {
  rejects(() => decode(hex("a14101f5")), /map key of major type 2 is not supported/, 1);
  rejects(() => decode(hex("a18001")), /map key of major type 4/);
  rejects(() => decode(hex("a1f501")), /map key of major type 7/);
  rejects(() => decode(hex("a2616101616102")), /duplicate map key "a"/, 4);
  rejects(() => decode(hex("a20100613100")), /duplicate map key "1"/); // 1 and "1" collide as object keys
  assert.deepStrictEqual(decode(hex("a20100613100"), { maps: "map" }), new Map<string | number, unknown>([[1, 0], ["1", 0]]));
  const o = decode(hex("a1695f5f70726f746f5f5fa16178f5")) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(o), Object.prototype);
  assert.deepStrictEqual(Object.keys(o), ["__proto__"]);
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

test("limits: depth, items, length, with defaults and caller values", () => {
  const nest = (n: number) => new Uint8Array([...new Array(n).fill(0x81), 0x00]);
  assert.deepStrictEqual(decode(nest(DEFAULT_LIMITS.maxDepth)), JSON.parse("[".repeat(16) + "0" + "]".repeat(16)));
  rejects(() => decode(nest(DEFAULT_LIMITS.maxDepth + 1)), /nesting deeper than maxDepth 16/, 16);
  rejects(() => decode(nest(3), { maxDepth: 2 }), /nesting deeper than maxDepth 2/);
  rejects(() => decode(hex("c1c1c100"), { tags: "skip", maxDepth: 2 }), /nesting deeper than maxDepth 2/);
  rejects(() => decode(nest(60000)), /nesting deeper/);
  rejects(() => decode(hex("83010203"), { maxItems: 3 }), /more than maxItems 3/);
  assert.deepStrictEqual(decode(hex("83010203"), { maxItems: 4 }), [1, 2, 3]);
  rejects(() => decode(hex("9f010203ff"), { maxItems: 3 }), /more than maxItems 3/);
  rejects(() => decode(new Uint8Array(10), { maxLength: 9 }), /input of 10 bytes exceeds maxLength 9/);
  rejects(() => decode(hex("00"), { maxDepth: -1 }), /option maxDepth must be an integer from 0 to 256/);
  rejects(() => decode(hex("00"), { maxItems: 1.5 }), /option maxItems/);
  rejects(() => decode(hex("00"), { maps: "x" as "map" }), /option maps/);
  rejects(() => decode(hex("00"), { tags: "x" as "skip" }), /option tags/);
  rejects(() => decode("00" as unknown as Uint8Array), /input must be a Uint8Array or ArrayBuffer/);
  assert.equal(decode(hex("1903e8").buffer as ArrayBuffer), 1000);
});

test("byte strings are views into the input unless copyBytes", () => {
  const input = hex("824301020343040506");
  const [a] = decode(input) as Uint8Array[];
  assert.equal(a.buffer, input.buffer);
  assert.equal(a.byteOffset, 2);
  input[2] = 9;
  assert.deepStrictEqual(a, Uint8Array.of(9, 2, 3));
  const [c] = decode(input, { copyBytes: true }) as Uint8Array[];
  assert.notEqual(c.buffer, input.buffer);
  input[2] = 1;
  assert.deepStrictEqual(c, Uint8Array.of(9, 2, 3));
  // View of a subarray input keeps the right offset.
  const inner = new Uint8Array([0xaa, ...hex("420102")]).subarray(1);
  const v = decode(inner) as Uint8Array;
  assert.equal(v.byteOffset, 2);
  assert.deepStrictEqual(v, Uint8Array.of(1, 2));
});

test("encode: unsupported values, cycles, limits, encodeInto", () => {
  rejects(() => encode(1n), /value of type bigint is not supported/);
  rejects(() => encode(Symbol("x")), /value of type symbol/);
  rejects(() => encode(() => 1), /value of type function/);
  rejects(() => encode(new Date(0)), /value of type Date is not supported/);
  rejects(() => encode(new Uint16Array(2)), /value of type Uint16Array/);
  rejects(() => encode(new Map([[true, 1]])), /map key of type boolean/);
  rejects(() => encode(new Map([[1.5, 1]])), /map key of type number/);
  rejects(() => encode("a\ud800b"), /lone surrogate U\+D800 at index 1/);
  rejects(() => encode("\udc00"), /lone surrogate U\+DC00 at index 0/);
  const cyc: unknown[] = [];
  cyc.push(cyc);
  rejects(() => encode(cyc), /nesting deeper than maxDepth 16 \(or a cycle\)/);
  rejects(() => encode(new Uint8Array(100), { maxLength: 100 }), /more than maxLength 100/);
  assert.equal(encode(new Uint8Array(98), { maxLength: 100 }).length, 100);
  rejects(() => encode(1.5, { floats: "x" as "float64" }), /option floats/);
  assert.deepStrictEqual(encode(1.5, { floats: "float64" }), hex("fb3ff8000000000000"));
  assert.equal(encodedLength({ c: "tok", f: 0, l: 4096, o: 0, n: 8 }), encode({ c: "tok", f: 0, l: 4096, o: 0, n: 8 }).length);
  const target = new Uint8Array(8).fill(0xee);
  assert.equal(encodeInto([1, "a"], target, 2), 4);
  assert.deepStrictEqual(target, hex("eeee82016161eeee"));
  rejects(() => encodeInto([1, "a"], target, 5), /encoding needs 4 bytes, target has 3 after offset 5/);
  assert.deepStrictEqual(target, hex("eeee82016161eeee")); // nothing written
  rejects(() => encodeInto(1, target, 9), /offset 9 is outside the target/);
  assert.deepStrictEqual(encode(new Uint8Array([1, 2, 3]).buffer), hex("43010203"));
  assert.deepStrictEqual(encode(Object.assign(Object.create(null), { a: 1 })), hex("a1616101"));
});

test("AWS IoT MQTT stream messages (short string keys) round-trip", () => {
  const req = { c: "rq1", f: 0, l: 4096, o: 12, n: 4, b: Uint8Array.of(0xff) };
  assert.deepStrictEqual(decode(encode(req)), req);
  const payload = new Uint8Array(4096).map((_, i) => i & 0xff);
  const block = { f: 0, i: 12, l: 4096, p: payload };
  const bytes = encode(block);
  assert.equal(bytes.length, 1 + 2 + 1 + 2 + 1 + 2 + 3 + 2 + 3 + 4096);
  const back = decode(bytes) as { p: Uint8Array };
  assert.deepStrictEqual(back, block);
  assert.equal(back.p.buffer, bytes.buffer); // zero-copy payload
});
