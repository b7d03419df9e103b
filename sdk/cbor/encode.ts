import { CborError } from "./error";
import { DEFAULT_LIMITS, MAX_DEPTH_CEILING, readLimit } from "./limits";
import { floatWidth, writeFloat } from "./float";
import { utf8Length, utf8Write } from "./utf8";

export interface EncodeOptions {
  maxDepth?: number;
  /** Most bytes of output. */
  maxLength?: number;
  /**
   * "shortest" (default): a non-integer number is written as the shortest of
   * float16/32/64 that holds it exactly (RFC 8949 §4.2.2 preferred serialization).
   * "float64": always 8-byte floats.
   */
  floats?: "shortest" | "float64";
}

/*
 * Accepted values: safe integers (-(2^53-1) .. 2^53-1, as major 0/1), other
 * numbers (floats, including -0), strings (strict: a lone surrogate is an error), booleans,
 * null, undefined, Uint8Array and ArrayBuffer (byte strings), arrays, Map with
 * string or safe-integer keys, and plain objects (string keys, own enumerable
 * properties in Object.keys order). Everything is definite-length. Anything
 * else (bigint, symbol, function, Date, other typed arrays, class instances)
 * is a CborError; so is a cycle (it exceeds maxDepth).
 *
 * Encoding is two passes, sizing then writing, so the output is allocated once
 * at its exact size (encode) or written into the caller's buffer (encodeInto).
 */

interface Settings {
  maxDepth: number;
  maxLength: number;
  shortest: boolean;
}

function settings(o: EncodeOptions | undefined): Settings {
  const opts = o ?? {};
  if (opts.floats !== undefined && opts.floats !== "shortest" && opts.floats !== "float64") {
    throw new CborError('option floats must be "shortest" or "float64"');
  }
  return {
    maxDepth: readLimit(opts.maxDepth, "maxDepth", DEFAULT_LIMITS.maxDepth, MAX_DEPTH_CEILING),
    maxLength: readLimit(opts.maxLength, "maxLength", DEFAULT_LIMITS.maxLength, 0x7fffffff),
    shortest: opts.floats !== "float64",
  };
}

/** Safe integers other than -0 are written as CBOR integers; -0 stays a float. */
function isInt(v: number): boolean {
  return Number.isSafeInteger(v) && (v !== 0 || 1 / v > 0);
}

function headLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

function isPlainObject(v: object): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function describe(v: unknown): string {
  if (v === null || typeof v !== "object") return typeof v;
  const p = Object.getPrototypeOf(v);
  const name = p && p.constructor && typeof p.constructor.name === "string" ? p.constructor.name : "object";
  return name;
}

function keyLength(k: unknown): number {
  if (typeof k === "string") return headLength(utf8Length(k)) + utf8Length(k);
  if (typeof k === "number" && Number.isSafeInteger(k)) return headLength(k < 0 ? -1 - k : k);
  throw new CborError(`map key of type ${describe(k)} is not supported (string or safe integer keys only)`);
}

function size(v: unknown, depth: number, s: Settings): number {
  switch (typeof v) {
    case "number":
      if (isInt(v)) return headLength(v < 0 ? -1 - v : v);
      return 1 + floatWidth(v, s.shortest);
    case "string": {
      const n = utf8Length(v);
      return headLength(n) + n;
    }
    case "boolean":
    case "undefined":
      return 1;
    case "object": {
      if (v === null) return 1;
      if (v instanceof Uint8Array || v instanceof ArrayBuffer) return headLength(v.byteLength) + v.byteLength;
      if (depth >= s.maxDepth) throw new CborError(`nesting deeper than maxDepth ${s.maxDepth} (or a cycle)`);
      let total = 0;
      if (Array.isArray(v)) {
        total = headLength(v.length);
        for (let i = 0; i < v.length; i++) {
          total += size(v[i], depth + 1, s);
          if (total > s.maxLength) break;
        }
      } else if (v instanceof Map) {
        total = headLength(v.size);
        for (const [k, x] of v) {
          total += keyLength(k) + size(x, depth + 1, s);
          if (total > s.maxLength) break;
        }
      } else if (isPlainObject(v)) {
        const keys = Object.keys(v);
        total = headLength(keys.length);
        for (let i = 0; i < keys.length; i++) {
          total += keyLength(keys[i]) + size((v as Record<string, unknown>)[keys[i]], depth + 1, s);
          if (total > s.maxLength) break;
        }
      } else throw new CborError(`value of type ${describe(v)} is not supported`);
      return total;
    }
    default:
      throw new CborError(`value of type ${typeof v} is not supported`);
  }
}

class Writer {
  constructor(
    readonly out: Uint8Array,
    public at: number,
    readonly shortest: boolean,
  ) {}

  head(major: number, n: number): void {
    const o = this.out;
    const m = major << 5;
    if (n < 24) o[this.at++] = m | n;
    else if (n < 0x100) {
      o[this.at++] = m | 24;
      o[this.at++] = n;
    } else if (n < 0x10000) {
      o[this.at++] = m | 25;
      o[this.at++] = n >> 8;
      o[this.at++] = n & 0xff;
    } else if (n < 0x100000000) {
      o[this.at++] = m | 26;
      this.u32(n);
    } else {
      o[this.at++] = m | 27;
      this.u32(Math.floor(n / 0x100000000));
      this.u32(n % 0x100000000);
    }
  }

  u32(n: number): void {
    const o = this.out;
    o[this.at++] = (n >>> 24) & 0xff;
    o[this.at++] = (n >>> 16) & 0xff;
    o[this.at++] = (n >>> 8) & 0xff;
    o[this.at++] = n & 0xff;
  }

  text(s: string): void {
    this.head(3, utf8Length(s));
    this.at = utf8Write(s, this.out, this.at);
  }

  key(k: string | number): void {
    if (typeof k === "string") this.text(k);
    else this.int(k);
  }

  int(v: number): void {
    if (v < 0) this.head(1, -1 - v);
    else this.head(0, v);
  }

  // Values were validated by size(); no checks are repeated here.
  value(v: unknown): void {
    switch (typeof v) {
      case "number":
        if (isInt(v)) this.int(v);
        else {
          const w = floatWidth(v, this.shortest);
          this.out[this.at++] = w === 2 ? 0xf9 : w === 4 ? 0xfa : 0xfb;
          writeFloat(v, w, this.out, this.at);
          this.at += w;
        }
        return;
      case "string":
        this.text(v);
        return;
      case "boolean":
        this.out[this.at++] = v ? 0xf5 : 0xf4;
        return;
      case "undefined":
        this.out[this.at++] = 0xf7;
        return;
      default: {
        if (v === null) {
          this.out[this.at++] = 0xf6;
          return;
        }
        if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
          const b = v instanceof Uint8Array ? v : new Uint8Array(v);
          this.head(2, b.length);
          this.out.set(b, this.at);
          this.at += b.length;
        } else if (Array.isArray(v)) {
          this.head(4, v.length);
          for (let i = 0; i < v.length; i++) this.value(v[i]);
        } else if (v instanceof Map) {
          this.head(5, v.size);
          for (const [k, x] of v) {
            this.key(k as string | number);
            this.value(x);
          }
        } else {
          const obj = v as Record<string, unknown>;
          const keys = Object.keys(obj);
          this.head(5, keys.length);
          for (let i = 0; i < keys.length; i++) {
            this.text(keys[i]);
            this.value(obj[keys[i]]);
          }
        }
      }
    }
  }
}

function measure(value: unknown, s: Settings): number {
  const n = size(value, 0, s);
  if (n > s.maxLength) throw new CborError(`encoding needs more than maxLength ${s.maxLength} bytes`);
  return n;
}

/** Bytes `encode(value, options)` would produce; validates the value the same way. */
export function encodedLength(value: unknown, options?: EncodeOptions): number {
  return measure(value, settings(options));
}

/** Encodes one value as CBOR into a new Uint8Array of exactly the encoded size. */
export function encode(value: unknown, options?: EncodeOptions): Uint8Array {
  const s = settings(options);
  const out = new Uint8Array(measure(value, s));
  new Writer(out, 0, s.shortest).value(value);
  return out;
}

/**
 * Encodes into `target` at `offset` (no allocation for the output). Returns the
 * number of bytes written. Throws CborError, writing nothing, if it does not fit.
 */
export function encodeInto(value: unknown, target: Uint8Array, offset = 0, options?: EncodeOptions): number {
  const s = settings(options);
  if (!(target instanceof Uint8Array)) throw new CborError("target must be a Uint8Array");
  if (!Number.isInteger(offset) || offset < 0 || offset > target.length) throw new CborError(`offset ${offset} is outside the target`);
  const n = measure(value, s);
  if (n > target.length - offset) throw new CborError(`encoding needs ${n} bytes, target has ${target.length - offset} after offset ${offset}`);
  new Writer(target, offset, s.shortest).value(value);
  return n;
}
