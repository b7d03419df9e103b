import { CborError } from "./error";

// Strict UTF-8 (RFC 3629) without TextEncoder/TextDecoder, so the codec needs
// nothing from the engine beyond ES2022 and behaves the same on every engine.

/** Bytes needed to encode `s` as UTF-8. A lone surrogate is a CborError. */
export function utf8Length(s: string): number {
  let n = 0;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) {
        throw new CborError(`text string has a lone surrogate U+${c.toString(16).toUpperCase()} at index ${i}`);
      }
      i++;
      n += 4;
    } else n += 3;
  }
  return n;
}

/** Writes `s` (already checked by utf8Length) at `at`; returns the next offset. */
export function utf8Write(s: string, out: Uint8Array, at: number): number {
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

// Reused buffer of UTF-16 code units, flushed to a string every CHUNK units.
const CHUNK = 512;
const units: number[] = [];

function flush(s: string): string {
  const t = s + String.fromCharCode.apply(null, units);
  units.length = 0;
  return t;
}

/**
 * Decodes bytes[start, end) as strict UTF-8: no overlong forms, no surrogate
 * code points, nothing above U+10FFFF, no truncated sequences.
 */
export function utf8Decode(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  units.length = 0;
  let i = start;
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) {
      units.push(b);
      i++;
    } else {
      let need: number;
      let cp: number;
      let min: number;
      if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 0x1f; min = 0x80; }
      else if (b >= 0xe0 && b <= 0xef) { need = 2; cp = b & 0x0f; min = 0x800; }
      else if (b >= 0xf0 && b <= 0xf4) { need = 3; cp = b & 0x07; min = 0x10000; }
      else {
        units.length = 0;
        throw new CborError(`invalid UTF-8 lead byte 0x${b.toString(16)} in text string`, i);
      }
      if (i + need >= end) {
        units.length = 0;
        throw new CborError("truncated UTF-8 sequence in text string", i);
      }
      for (let k = 1; k <= need; k++) {
        const c = bytes[i + k];
        if ((c & 0xc0) !== 0x80) {
          units.length = 0;
          throw new CborError("invalid UTF-8 continuation byte in text string", i + k);
        }
        cp = (cp << 6) | (c & 0x3f);
      }
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        units.length = 0;
        throw new CborError(
          cp < min ? "overlong UTF-8 sequence in text string" : "UTF-8 encodes an invalid code point in text string",
          i,
        );
      }
      if (cp >= 0x10000) {
        cp -= 0x10000;
        units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      } else units.push(cp);
      i += need + 1;
    }
    if (units.length >= CHUNK) s = flush(s);
  }
  return units.length ? flush(s) : s;
}
