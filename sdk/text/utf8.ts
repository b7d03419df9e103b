// Strict UTF-8 (RFC 3629) without TextEncoder/TextDecoder, shared by the MQTT
// and CBOR codecs: no overlong forms, no surrogate code points, nothing above
// U+10FFFF, no truncated sequences (and, for MQTT strings, no U+0000).
// Problems are Utf8Error with a code and position; each codec turns them into
// its own error type, so a codec still throws only its own errors.

export type Utf8Problem = "nul" | "lone-surrogate" | "lead" | "truncated" | "continuation" | "overlong" | "surrogate" | "range";

export class Utf8Error extends Error {
  constructor(
    readonly problem: Utf8Problem,
    /** String index (encode side) or byte offset (decode side). */
    readonly at: number,
    /** The offending code unit or byte. */
    readonly value = 0,
  ) {
    super(`UTF-8 ${problem} at ${at}`);
  }
}
// `name` on the prototype: `this.name = ...` throws where Error.prototype is frozen (Moddable).
Object.defineProperty(Utf8Error.prototype, "name", { value: "Utf8Error", configurable: true, writable: true });

// Most strings on the wire (topics, ids, JSON keys) are ASCII: a native regular
// expression tells, and then the length is the string's length.
const ASCII = /^[\x01-\x7f]*$/;

/** Bytes `s` takes as UTF-8. Throws Utf8Error on a lone surrogate (or U+0000 when rejectNul). */
export function utf8Length(s: string, rejectNul = false): number {
  if (ASCII.test(s)) return s.length;
  let n = 0;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0 && rejectNul) throw new Utf8Error("nul", i);
      n += 1;
    } else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) throw new Utf8Error("lone-surrogate", i, c);
      i++;
      n += 4;
    } else n += 3;
  }
  return n;
}

// No TextEncoder/TextDecoder: Moddable has no such globals (only the modules
// text/encoder and text/decoder, which an app would have to include). XS's own
// UTF-8 built-ins do the native part instead: ArrayBuffer.fromString and
// String.fromArrayBuffer (xs/sources/xsDataView.c, xs/sources/xsString.c,
// typed in xs/includes/xs.d.ts), present on every Moddable build; engines
// without them (Node, Espruino) use the loops below. Called as methods: XS's
// fromString constructs through its receiver ("new: not a constructor" unbound).
const xsFromString = (ArrayBuffer as { fromString?: (s: string) => ArrayBuffer }).fromString;
const xsToString = (String as { fromArrayBuffer?: (b: ArrayBufferLike, offset?: number, length?: number) => string }).fromArrayBuffer;

/** Writes `s` (already measured by utf8Length: no lone surrogate) at `at`; returns the next offset. */
export function utf8Write(s: string, out: Uint8Array, at: number): number {
  if (xsFromString && s.length > 8) {
    // XS keeps strings as UTF-8 (U+0000 as C0 80, which fromString turns back into 00).
    const bytes = new Uint8Array(xsFromString.call(ArrayBuffer, s));
    out.set(bytes, at);
    return at + bytes.length;
  }
  const len = s.length;
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) out[at++] = c;
    else if (c < 0x800) {
      out[at++] = 0xc0 | (c >> 6);
      out[at++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdbff) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      out[at++] = 0xf0 | (c >> 18);
      out[at++] = 0x80 | ((c >> 12) & 0x3f);
      out[at++] = 0x80 | ((c >> 6) & 0x3f);
      out[at++] = 0x80 | (c & 0x3f);
    } else {
      out[at++] = 0xe0 | (c >> 12);
      out[at++] = 0x80 | ((c >> 6) & 0x3f);
      out[at++] = 0x80 | (c & 0x3f);
    }
  }
  return at;
}

// fromCharCode.apply on bounded runs keeps argument counts small on XS.
const RUN = 512;

function ascii(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i += RUN) s += String.fromCharCode.apply(null, b.subarray(i, i + RUN < to ? i + RUN : to) as unknown as number[]);
  return s;
}

/** Decodes bytes [from, to) strictly. Throws Utf8Error on anything invalid. */
export function utf8Decode(b: Uint8Array, from: number, to: number, rejectNul = false): string {
  // XS's String.fromArrayBuffer checks only the sequence structure (not overlong
  // forms, surrogates or the range): the bytes are checked here first.
  if (xsToString && to - from > 8) {
    check(b, from, to, rejectNul);
    return xsToString.call(String, b.buffer, b.byteOffset + from, to - from);
  }
  return decodeLoop(b, from, to, rejectNul);
}

/** Throws the Utf8Error decodeLoop would throw, without building the string. */
function check(b: Uint8Array, from: number, to: number, rejectNul: boolean): void {
  for (let i = from; i < to; ) {
    const c = b[i];
    if (c >= 0x80) i = sequence(b, i, to, c);
    else if (c === 0 && rejectNul) throw new Utf8Error("nul", i);
    else i++;
  }
}

/** Checks the multi-byte sequence whose lead byte `c` is at `i`; returns its code point in `cp` and the next index. */
let cp = 0;
function sequence(b: Uint8Array, i: number, to: number, c: number): number {
  let need = 3;
  let v = c & 0x07;
  let min = 0x10000;
  if (c >= 0xc2 && c <= 0xdf) {
    need = 1;
    v = c & 0x1f;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    v = c & 0x0f;
    min = 0x800;
  } else if (c < 0xf0 || c > 0xf4) throw new Utf8Error("lead", i, c);
  if (i + need >= to) throw new Utf8Error("truncated", i, c);
  for (let k = 1; k <= need; k++) {
    const d = b[i + k];
    if ((d & 0xc0) !== 0x80) throw new Utf8Error("continuation", i + k, d);
    v = (v << 6) | (d & 0x3f);
  }
  if (v < min) throw new Utf8Error("overlong", i, c);
  if (v > 0x10ffff) throw new Utf8Error("range", i, c);
  if (v >= 0xd800 && v <= 0xdfff) throw new Utf8Error("surrogate", i, c);
  cp = v;
  return i + need + 1;
}

function decodeLoop(b: Uint8Array, from: number, to: number, rejectNul: boolean): string {
  let i = from;
  while (i < to && b[i] < 0x80 && (b[i] !== 0 || !rejectNul)) i++; // ASCII fast path
  if (i === to) return ascii(b, from, to);
  let s = ascii(b, from, i);
  const units: number[] = [];
  while (i < to) {
    const c = b[i];
    if (c < 0x80) {
      if (c === 0 && rejectNul) throw new Utf8Error("nul", i);
      units.push(c);
      i++;
    } else {
      i = sequence(b, i, to, c);
      if (cp >= 0x10000) {
        const u = cp - 0x10000;
        units.push(0xd800 + (u >> 10), 0xdc00 + (u & 0x3ff));
      } else units.push(cp);
    }
    if (units.length >= RUN) {
      s += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  return s + String.fromCharCode.apply(null, units);
}

/** `s` as UTF-8 bytes. Throws Utf8Error on a lone surrogate. */
export function utf8Encode(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  utf8Write(s, out, 0);
  return out;
}

/** All of `bytes`, decoded strictly. Throws Utf8Error on anything invalid. */
export function utf8String(bytes: ArrayBufferLike | ArrayBufferView): string {
  const b = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  return utf8Decode(b, 0, b.length);
}
