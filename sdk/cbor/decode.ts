import { CborError } from "./error";
import { DEFAULT_LIMITS, MAX_DEPTH_CEILING, readLimit } from "./limits";
import { bitsToFloat32, bitsToFloat64, halfToNumber } from "./float";
import { utf8Decode } from "./utf8";

/** A decoded CBOR data item. Maps are plain objects, or Map with `maps: "map"`. */
export type CborValue =
  | number
  | string
  | boolean
  | null
  | undefined
  | Uint8Array
  | CborValue[]
  | CborObject
  | Map<string | number, CborValue>;
export interface CborObject {
  [key: string]: CborValue;
}

export interface DecodeOptions {
  maxDepth?: number;
  maxItems?: number;
  maxLength?: number;
  /**
   * "object" (default): a map becomes a plain object; text keys stay strings,
   * integer keys become their decimal string (1 -> "1"). "map": a Map whose
   * keys are the decoded strings and numbers. Other key types are rejected, and
   * so are duplicate keys (also 1 and "1" in "object" mode).
   */
  maps?: "object" | "map";
  /** "reject" (default): any tag is a CborError. "skip": the tag is dropped, its content decoded. */
  tags?: "reject" | "skip";
  /**
   * false (default): a definite-length byte string is returned as a Uint8Array
   * VIEW into the input (no copy); it is valid only while the caller leaves the
   * input bytes unchanged. true: every byte string is a fresh copy.
   * Indefinite-length byte strings are always fresh copies.
   */
  copyBytes?: boolean;
}

const BREAK = -1; // returned by readHead for 0xff

/**
 * Decodes exactly one CBOR data item filling `input`. Throws CborError, and
 * nothing else, for any input: malformed, truncated, trailing bytes, over a
 * limit, or outside the supported subset (integers beyond +-(2^53-1),
 * simple values other than false/true/null/undefined, tags unless skipped).
 */
export function decode(input: Uint8Array | ArrayBuffer, options?: DecodeOptions): CborValue {
  const o = options ?? {};
  const maxLength = readLimit(o.maxLength, "maxLength", DEFAULT_LIMITS.maxLength, 0x7fffffff);
  let bytes: Uint8Array;
  if (input instanceof Uint8Array) bytes = input;
  else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
  else throw new CborError("input must be a Uint8Array or ArrayBuffer");
  if (bytes.length > maxLength) throw new CborError(`input of ${bytes.length} bytes exceeds maxLength ${maxLength}`);
  if (bytes.length === 0) throw new CborError("empty input", 0);
  const d = new Decoder(
    bytes,
    readLimit(o.maxDepth, "maxDepth", DEFAULT_LIMITS.maxDepth, MAX_DEPTH_CEILING),
    readLimit(o.maxItems, "maxItems", DEFAULT_LIMITS.maxItems, 0x7fffffff),
    o.maps === "map",
    o.tags === "skip",
    o.copyBytes === true,
  );
  if (o.maps !== undefined && o.maps !== "object" && o.maps !== "map") throw new CborError('option maps must be "object" or "map"');
  if (o.tags !== undefined && o.tags !== "reject" && o.tags !== "skip") throw new CborError('option tags must be "reject" or "skip"');
  const value = d.item(0);
  if (d.pos !== bytes.length) throw new CborError(`${bytes.length - d.pos} trailing bytes after the data item`, d.pos);
  return value;
}

class Decoder {
  pos = 0;
  items = 0;
  // Head of the last item read: major type, argument (or -1 for indefinite), start offset.
  major = 0;
  arg = 0;
  start = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly maxDepth: number,
    readonly maxItems: number,
    readonly asMap: boolean,
    readonly skipTags: boolean,
    readonly copyBytes: boolean,
  ) {}

  need(n: number): void {
    if (this.bytes.length - this.pos < n) {
      throw new CborError(`unexpected end of input (need ${n} more bytes, have ${this.bytes.length - this.pos})`, this.pos);
    }
  }

  /** Reads an initial byte and its argument. Returns BREAK for 0xff, else 0. Sets major/arg. */
  readHead(): number {
    this.start = this.pos;
    this.need(1);
    const ib = this.bytes[this.pos++];
    if (ib === 0xff) return BREAK;
    if (++this.items > this.maxItems) throw new CborError(`more than maxItems ${this.maxItems} data items`, this.start);
    const major = ib >> 5;
    const ai = ib & 0x1f;
    this.major = major;
    const b = this.bytes;
    if (ai < 24) this.arg = ai;
    else if (ai === 24) {
      this.need(1);
      this.arg = b[this.pos++];
      if (major === 7 && this.arg < 32) throw new CborError(`simple value ${this.arg} in two-byte form is not well-formed`, this.start);
    } else if (ai === 25) {
      this.need(2);
      this.arg = (b[this.pos] << 8) | b[this.pos + 1];
      this.pos += 2;
    } else if (ai === 26) {
      this.need(4);
      this.arg = ((b[this.pos] << 24) | (b[this.pos + 1] << 16) | (b[this.pos + 2] << 8) | b[this.pos + 3]) >>> 0;
      this.pos += 4;
    } else if (ai === 27) {
      this.need(8);
      const p = this.pos;
      const hi = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
      const lo = ((b[p + 4] << 24) | (b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]) >>> 0;
      this.pos += 8;
      if (major === 7) {
        this.arg = 0;
        this.f64 = bitsToFloat64(hi, lo);
      } else if (hi > 0x1fffff) {
        // Arguments of 2^53 and above: integers out of range, lengths far beyond any limit.
        throw new CborError(
          major <= 1 ? "integer magnitude exceeds 2^53-1" : major === 6 ? "tag number exceeds 2^53-1" : "length exceeds 2^53-1",
          this.start,
        );
      } else this.arg = hi * 0x100000000 + lo;
    } else if (ai === 31) {
      if (major <= 1 || major === 6) throw new CborError(`indefinite length is not allowed for major type ${major}`, this.start);
      this.arg = -1;
    } else throw new CborError(`reserved additional information ${ai}`, this.start);
    this.ai = ai;
    return 0;
  }
  ai = 0;
  f64 = 0;

  /** Checks that `n` more items can exist: each needs at least one byte and one item slot. */
  checkCount(n: number, perEntry: number): void {
    if (n * perEntry > this.bytes.length - this.pos) {
      throw new CborError(`declared ${n} entries but only ${this.bytes.length - this.pos} bytes remain`, this.start);
    }
    if (n * perEntry > this.maxItems - this.items) throw new CborError(`more than maxItems ${this.maxItems} data items`, this.start);
  }

  item(depth: number): CborValue {
    if (this.readHead() === BREAK) throw new CborError("unexpected break (0xff) outside an indefinite-length item", this.start);
    return this.body(depth);
  }

  body(depth: number): CborValue {
    const arg = this.arg;
    switch (this.major) {
      case 0:
        if (arg > Number.MAX_SAFE_INTEGER) throw new CborError("integer magnitude exceeds 2^53-1", this.start);
        return arg;
      case 1:
        if (arg >= Number.MAX_SAFE_INTEGER) throw new CborError("negative integer magnitude exceeds 2^53-1", this.start);
        return -1 - arg;
      case 2:
        return arg < 0 ? this.indefiniteBytes() : this.byteString(arg);
      case 3:
        return arg < 0 ? this.indefiniteText() : this.text(arg);
      case 4:
        return this.array(arg, depth);
      case 5:
        return this.map(arg, depth);
      case 6: {
        if (!this.skipTags) throw new CborError(`tag ${arg} is not supported`, this.start);
        if (depth >= this.maxDepth) throw new CborError(`nesting deeper than maxDepth ${this.maxDepth}`, this.start);
        return this.item(depth + 1);
      }
      default:
        return this.simple();
    }
  }

  simple(): CborValue {
    switch (this.ai) {
      case 20: return false;
      case 21: return true;
      case 22: return null;
      case 23: return undefined;
      case 25: return halfToNumber(this.arg);
      case 26: return bitsToFloat32(this.arg);
      case 27: return this.f64;
      case 31: throw new CborError("indefinite length is not allowed for major type 7", this.start);
      default: throw new CborError(`simple value ${this.arg} is not supported`, this.start);
    }
  }

  byteString(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes;
    const at = this.pos;
    this.pos += n;
    if (this.copyBytes) return b.slice(at, at + n);
    // A plain Uint8Array view, whatever subclass the input is.
    return new Uint8Array(b.buffer, b.byteOffset + at, n);
  }

  text(n: number): string {
    this.need(n);
    const at = this.pos;
    this.pos += n;
    return utf8Decode(this.bytes, at, at + n);
  }

  indefiniteBytes(): Uint8Array {
    // Two passes: find the chunks and total size, then copy once.
    const first = this.pos;
    let total = 0;
    for (;;) {
      if (this.readHead() === BREAK) break;
      if (this.major !== 2 || this.arg < 0) throw new CborError("chunk of an indefinite-length byte string is not a definite byte string", this.start);
      this.need(this.arg);
      this.pos += this.arg;
      total += this.arg;
    }
    const out = new Uint8Array(total);
    let p = first;
    let w = 0;
    const b = this.bytes;
    while (b[p] !== 0xff) {
      // Re-read each chunk head; all were validated above.
      const saved = this.pos;
      const savedItems = this.items;
      this.pos = p;
      this.readHead();
      out.set(b.subarray(this.pos, this.pos + this.arg), w);
      w += this.arg;
      p = this.pos + this.arg;
      this.pos = saved;
      this.items = savedItems;
    }
    return out;
  }

  indefiniteText(): string {
    let s = "";
    for (;;) {
      if (this.readHead() === BREAK) return s;
      if (this.major !== 3 || this.arg < 0) throw new CborError("chunk of an indefinite-length text string is not a definite text string", this.start);
      s += this.text(this.arg);
    }
  }

  array(n: number, depth: number): CborValue[] {
    if (depth >= this.maxDepth) throw new CborError(`nesting deeper than maxDepth ${this.maxDepth}`, this.start);
    const out: CborValue[] = [];
    if (n >= 0) {
      this.checkCount(n, 1);
      for (let i = 0; i < n; i++) out.push(this.item(depth + 1));
    } else {
      while (this.readHead() !== BREAK) out.push(this.body(depth + 1));
    }
    return out;
  }

  map(n: number, depth: number): CborObject | Map<string | number, CborValue> {
    if (depth >= this.maxDepth) throw new CborError(`nesting deeper than maxDepth ${this.maxDepth}`, this.start);
    if (n >= 0) this.checkCount(n, 2);
    const m = this.asMap ? new Map<string | number, CborValue>() : undefined;
    const obj: CborObject = {};
    for (let i = 0; n < 0 || i < n; i++) {
      if (this.readHead() === BREAK) {
        if (n < 0) break;
        throw new CborError("unexpected break (0xff) outside an indefinite-length item", this.start);
      }
      const keyAt = this.start;
      let key: string | number;
      if (this.major === 3) key = this.arg < 0 ? this.indefiniteText() : this.text(this.arg);
      else if (this.major === 0 || this.major === 1) key = this.body(depth + 1) as number;
      else throw new CborError(`map key of major type ${this.major} is not supported (text or integer keys only)`, keyAt);
      if (this.readHead() === BREAK) throw new CborError("map has a key without a value", this.start);
      const value = this.body(depth + 1);
      if (m) {
        if (m.has(key)) throw new CborError(`duplicate map key ${JSON.stringify(key)}`, keyAt);
        m.set(key, value);
      } else {
        const k = typeof key === "string" ? key : String(key);
        if (Object.prototype.hasOwnProperty.call(obj, k)) throw new CborError(`duplicate map key ${JSON.stringify(k)}`, keyAt);
        if (k === "__proto__") Object.defineProperty(obj, k, { value, enumerable: true, writable: true, configurable: true });
        else obj[k] = value;
      }
    }
    return m ?? obj;
  }
}
