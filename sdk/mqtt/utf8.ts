import { MqttProtocolError, MALFORMED } from "./error";

// Strict UTF-8 for MQTT strings (MQTT 1.5.4): no U+0000, no surrogate code
// points, no overlong forms, nothing above U+10FFFF. Hand-written so the codec
// needs nothing from the engine beyond ES2022.

/** Bytes `s` takes as UTF-8. Throws on U+0000 or a lone surrogate. */
export function utf8Length(s: string): number {
  let n = 0;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) throw new MqttProtocolError(`string has U+0000 at index ${i}`, MALFORMED);
      n += 1;
    } else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) {
        throw new MqttProtocolError(`string has a lone surrogate at index ${i}`, MALFORMED);
      }
      i++;
      n += 4;
    } else n += 3;
  }
  return n;
}

/** Writes `s` (already measured by utf8Length) at `at`; returns the next offset. */
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

/** Decodes bytes [from, to) strictly; throws MqttProtocolError (0x81) on anything invalid. */
export function utf8Read(b: Uint8Array, from: number, to: number): string {
  let s = "";
  let units: number[] | undefined;
  let i = from;
  // ASCII fast path: most topics and ids are ASCII.
  while (i < to) {
    const c = b[i];
    if (c === 0 || c >= 0x80) break;
    i++;
  }
  if (i === to) return ascii(b, from, to);
  s = ascii(b, from, i);
  units = [];
  while (i < to) {
    const c = b[i];
    let cp: number;
    if (c < 0x80) {
      if (c === 0) throw bad("U+0000", i);
      cp = c;
      i += 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (i + 1 >= to) throw bad("truncated sequence", i);
      const c1 = b[i + 1];
      if ((c1 & 0xc0) !== 0x80) throw bad("bad continuation byte", i);
      cp = ((c & 0x1f) << 6) | (c1 & 0x3f);
      i += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      if (i + 2 >= to) throw bad("truncated sequence", i);
      const c1 = b[i + 1], c2 = b[i + 2];
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80) throw bad("bad continuation byte", i);
      cp = ((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f);
      if (cp < 0x800) throw bad("overlong sequence", i);
      if (cp >= 0xd800 && cp <= 0xdfff) throw bad("surrogate code point", i);
      i += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      if (i + 3 >= to) throw bad("truncated sequence", i);
      const c1 = b[i + 1], c2 = b[i + 2], c3 = b[i + 3];
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || (c3 & 0xc0) !== 0x80) throw bad("bad continuation byte", i);
      cp = ((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f);
      if (cp < 0x10000) throw bad("overlong sequence", i);
      if (cp > 0x10ffff) throw bad("code point above U+10FFFF", i);
      i += 4;
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10));
      cp = 0xdc00 + (cp & 0x3ff);
    } else throw bad(c >= 0x80 && c < 0xc2 ? "overlong or stray byte" : "invalid lead byte", i);
    units.push(cp);
    if (units.length >= 512) {
      s += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  return s + String.fromCharCode.apply(null, units);
}

function ascii(b: Uint8Array, from: number, to: number): string {
  let s = "";
  // fromCharCode.apply on bounded slices keeps argument counts small on XS.
  for (let i = from; i < to; i += 512) {
    const end = i + 512 < to ? i + 512 : to;
    s += String.fromCharCode.apply(null, b.subarray(i, end) as unknown as number[]);
  }
  return s;
}

function bad(what: string, at: number): MqttProtocolError {
  return new MqttProtocolError(`invalid UTF-8: ${what} at byte ${at}`, MALFORMED);
}
