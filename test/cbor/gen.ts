// Seeded random CBOR-able values and a small PRNG, shared by the CBOR tests.

export { rng as prng } from "../mqtt/gen.ts";

export interface GenOptions {
  /** Allow -0 (cbor-x writes it as integer 0). */
  negativeZero?: boolean;
  /** Allow undefined. */
  undefinedValues?: boolean;
}

export function randomNumber(r: () => number, o: GenOptions = {}): number {
  const k = Math.floor(r() * 9);
  const buf = new DataView(new ArrayBuffer(8));
  switch (k) {
    case 0: return Math.floor(r() * 24);
    case 1: return Math.floor(r() * 0x10000) - 0x8000;
    case 2: return Math.floor((r() - 0.5) * 2 ** 33);
    case 3: return Math.floor((r() - 0.5) * 2 * Number.MAX_SAFE_INTEGER);
    case 4: { // any float64 bit pattern except unsafe integers (out of the subset as integers)
      buf.setUint32(0, Math.floor(r() * 2 ** 32));
      buf.setUint32(4, Math.floor(r() * 2 ** 32));
      const v = buf.getFloat64(0);
      if (Number.isInteger(v) && !Number.isSafeInteger(v)) return v / 3 + 0.5 === v ? 0.25 : v + 0.5 === v ? 1.5 : v;
      return Object.is(v, -0) && !o.negativeZero ? 0.5 : v;
    }
    case 5: return Math.fround((r() - 0.5) * 1e6);
    case 6: return [0.5, 1.5, -4.25, 65504, 5.960464477539063e-8, Infinity, -Infinity, NaN, 1e300, 3.4028234663852886e38][Math.floor(r() * 10)];
    case 7: return o.negativeZero && r() < 0.5 ? -0 : (r() - 0.5) * 1e-3;
    default: return Math.floor(r() * 2 ** 32);
  }
}

export function randomString(r: () => number): string {
  const n = Math.floor(r() * (r() < 0.8 ? 8 : 80));
  let s = "";
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.6) s += String.fromCharCode(0x20 + Math.floor(r() * 95));
    else if (k < 0.75) s += String.fromCharCode(0x80 + Math.floor(r() * 0x780));
    else if (k < 0.9) {
      let c = 0x800 + Math.floor(r() * 0xf800);
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfeff;
      s += String.fromCharCode(c);
    } else s += String.fromCodePoint(0x10000 + Math.floor(r() * 0x100000));
  }
  return s;
}

export function randomBytes(r: () => number, max = 40): Uint8Array {
  const b = new Uint8Array(Math.floor(r() * max));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  return b;
}

export function randomValue(r: () => number, depth = 0, o: GenOptions = {}): unknown {
  const k = Math.floor(r() * (depth >= 4 ? 7 : 10));
  switch (k) {
    case 0: case 1: return randomNumber(r, o);
    case 2: return randomString(r);
    case 3: return randomBytes(r);
    case 4: return r() < 0.5;
    case 5: return null;
    case 6: return o.undefinedValues && r() < 0.5 ? undefined : Math.floor(r() * 100);
    case 7: case 8: {
      const n = Math.floor(r() * (r() < 0.9 ? 5 : 30));
      return Array.from({ length: n }, () => randomValue(r, depth + 1, o));
    }
    default: {
      const n = Math.floor(r() * (r() < 0.9 ? 5 : 30));
      const obj: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const key = r() < 0.5 ? "cflonbpi"[Math.floor(r() * 8)] : randomString(r);
        if (key === "__proto__") continue;
        obj[key] = randomValue(r, depth + 1, o);
      }
      return obj;
    }
  }
}

/** Buffers (cbor-x output in Node) become plain Uint8Arrays, recursively, for deepStrictEqual. */
export function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, plain(x)]));
  if (v && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v)) o[k] = plain((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}
