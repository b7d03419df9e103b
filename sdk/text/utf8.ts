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

// The engine's encoder writes in place when it has encodeInto (XS, Node, browsers).
const encoder: TextEncoder | undefined = typeof TextEncoder === "function" ? new TextEncoder() : undefined;
const encodeInto = typeof encoder?.encodeInto === "function";

/** Writes `s` (already measured by utf8Length: no lone surrogate) at `at`; returns the next offset. */
export function utf8Write(s: string, out: Uint8Array, at: number): number {
  if (encodeInto) return at + encoder!.encodeInto!(s, out.subarray(at)).written;
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

// The engine's own strict decoder when it has one (XS, Node, browsers): the same
// rules (WHATWG fatal mode is RFC 3629 strict), natively, at a fraction of the
// cost of a loop in JS. ignoreBOM keeps a leading U+FEFF, as MQTT requires.
// Engines without one (Espruino) use the loop below, which also pinpoints
// what is wrong when the native decoder refuses.
const native: TextDecoder | undefined = (() => {
  try {
    return typeof TextDecoder === "function" ? new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }) : undefined;
  } catch {
    return undefined;
  }
})();

/** Decodes bytes [from, to) strictly. Throws Utf8Error on anything invalid. */
export function utf8Decode(b: Uint8Array, from: number, to: number, rejectNul = false): string {
  if (native) {
    let s: string | undefined;
    try {
      s = native.decode(b.subarray(from, to));
    } catch {
      s = undefined;
    }
    if (s !== undefined && (!rejectNul || s.indexOf("\u0000") < 0)) return s;
    decodeLoop(b, from, to, rejectNul); // throws the precise problem
    throw new Utf8Error("lead", from, b[from]); // the two decoders disagree: refuse
  }
  return decodeLoop(b, from, to, rejectNul);
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
      let need = 3;
      let cp = c & 0x07;
      let min = 0x10000;
      if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        cp = c & 0x1f;
        min = 0x80;
      } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        cp = c & 0x0f;
        min = 0x800;
      } else if (c < 0xf0 || c > 0xf4) throw new Utf8Error("lead", i, c);
      if (i + need >= to) throw new Utf8Error("truncated", i, c);
      for (let k = 1; k <= need; k++) {
        const d = b[i + k];
        if ((d & 0xc0) !== 0x80) throw new Utf8Error("continuation", i + k, d);
        cp = (cp << 6) | (d & 0x3f);
      }
      if (cp < min) throw new Utf8Error("overlong", i, c);
      if (cp > 0x10ffff) throw new Utf8Error("range", i, c);
      if (cp >= 0xd800 && cp <= 0xdfff) throw new Utf8Error("surrogate", i, c);
      if (cp >= 0x10000) {
        cp -= 0x10000;
        units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      } else units.push(cp);
      i += need + 1;
    }
    if (units.length >= RUN) {
      s += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  return s + String.fromCharCode.apply(null, units);
}
