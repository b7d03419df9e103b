// IEEE 754 helpers for CBOR floats (major type 7, additional info 25/26/27).
// One module-level 8-byte scratch view: no allocation per value.

const scratch = new DataView(new ArrayBuffer(8));

/** Value of an IEEE 754 binary16 bit pattern (RFC 8949 Appendix D). */
export function halfToNumber(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  let v: number;
  if (exp === 0) v = mant * 2 ** -24;
  else if (exp === 31) v = mant === 0 ? Infinity : NaN;
  else v = (mant + 1024) * 2 ** (exp - 25);
  return h & 0x8000 ? -v : v;
}

export function bitsToFloat32(bits: number): number {
  scratch.setUint32(0, bits);
  return scratch.getFloat32(0);
}

export function bitsToFloat64(hi: number, lo: number): number {
  scratch.setUint32(0, hi);
  scratch.setUint32(4, lo);
  return scratch.getFloat64(0);
}

/**
 * binary16 bit pattern that represents v exactly, or -1. NaN maps to the
 * canonical quiet NaN 0x7e00 (JS has no NaN payloads to keep).
 */
export function numberToHalf(v: number): number {
  if (v !== v) return 0x7e00;
  if (Math.fround(v) !== v) return -1;
  scratch.setFloat32(0, v);
  const bits = scratch.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const e = (bits >>> 23) & 0xff;
  const m = bits & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00; // infinity (NaN handled above)
  if (e === 0) return m === 0 ? sign : -1; // zero; float32 subnormals are below binary16 range
  const E = e - 127;
  if (E > 15 || E < -24) return -1;
  if (E >= -14) {
    if (m & 0x1fff) return -1;
    return sign | ((E + 15) << 10) | (m >> 13);
  }
  // binary16 subnormal: value = h * 2^-24, with h = (1.m * 2^23) >> -(E + 1)
  const full = m | 0x800000;
  const shift = -(E + 1);
  if (full & ((1 << shift) - 1)) return -1;
  return sign | (full >> shift);
}

/** Width in bytes (2, 4 or 8) of the shortest float that holds v exactly. */
export function floatWidth(v: number, shortest: boolean): 2 | 4 | 8 {
  if (!shortest) return 8;
  if (numberToHalf(v) >= 0) return 2;
  if (Math.fround(v) === v) return 4;
  return 8;
}

/** Writes v as a float of `width` bytes (big-endian) at `at`. */
export function writeFloat(v: number, width: 2 | 4 | 8, out: Uint8Array, at: number): void {
  if (width === 2) {
    const h = numberToHalf(v);
    out[at] = h >> 8;
    out[at + 1] = h & 0xff;
    return;
  }
  if (width === 4) scratch.setFloat32(0, v);
  else scratch.setFloat64(0, v);
  for (let i = 0; i < width; i++) out[at + i] = scratch.getUint8(i);
}
