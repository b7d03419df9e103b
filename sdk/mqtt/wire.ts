import { MqttProtocolError } from "./error";
import { MALFORMED, utf8Length, utf8Read, utf8Write } from "./utf8";

// Byte cursors shared by the packet codec and the property codec.

/** Reads big-endian MQTT fields from b[p, end); every read is bounds-checked. */
export class Reader {
  b: Uint8Array;
  p: number;
  end: number;
  constructor(b: Uint8Array, p: number, end: number) {
    this.b = b;
    this.p = p;
    this.end = end;
  }
  need(n: number, what: string): void {
    if (this.p + n > this.end) {
      throw new MqttProtocolError(`packet too short: ${what} needs ${n} bytes at offset ${this.p}, ${this.end - this.p} left`, MALFORMED);
    }
  }
  u8(what: string): number {
    this.need(1, what);
    return this.b[this.p++];
  }
  u16(what: string): number {
    this.need(2, what);
    const v = (this.b[this.p] << 8) | this.b[this.p + 1];
    this.p += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const b = this.b, p = this.p;
    this.p += 4;
    return (b[p] * 0x1000000) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }
  /** Variable Byte Integer (MQTT 1.5.5): at most 4 bytes, minimal encoding. */
  varint(what: string): number {
    let v = 0, mul = 1;
    for (let i = 0; i < 4; i++) {
      const c = this.u8(what);
      v += (c & 0x7f) * mul;
      if (!(c & 0x80)) {
        if (c === 0 && i > 0) throw new MqttProtocolError(`${what}: variable byte integer is not minimally encoded`, MALFORMED);
        return v;
      }
      mul *= 128;
    }
    throw new MqttProtocolError(`${what}: variable byte integer longer than 4 bytes`, MALFORMED);
  }
  bytes(what: string): Uint8Array {
    const n = this.u16(what);
    this.need(n, what);
    const v = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return v;
  }
  str(what: string, maxBytes = 65535): string {
    const n = this.u16(what);
    this.need(n, what);
    if (n > maxBytes) throw new MqttProtocolError(`${what} is ${n} bytes, limit ${maxBytes}`, MALFORMED);
    const v = utf8Read(this.b, this.p, this.p + n);
    this.p += n;
    return v;
  }
}

/**
 * Writes MQTT fields. With out === null it only counts bytes, so one body
 * function both measures and writes a packet (one exact allocation).
 */
export class Writer {
  out: Uint8Array | null;
  p: number;
  constructor(out: Uint8Array | null, p: number) {
    this.out = out;
    this.p = p;
  }
  u8(v: number): void {
    if (this.out) this.out[this.p] = v;
    this.p++;
  }
  u16(v: number): void {
    if (this.out) {
      this.out[this.p] = v >> 8;
      this.out[this.p + 1] = v;
    }
    this.p += 2;
  }
  u32(v: number): void {
    if (this.out) {
      const o = this.out, p = this.p;
      o[p] = v / 0x1000000;
      o[p + 1] = v >> 16;
      o[p + 2] = v >> 8;
      o[p + 3] = v;
    }
    this.p += 4;
  }
  varint(v: number): void {
    do {
      let c = v % 128;
      v = Math.floor(v / 128);
      if (v > 0) c |= 0x80;
      this.u8(c);
    } while (v > 0);
  }
  raw(v: Uint8Array): void {
    if (this.out) this.out.set(v, this.p);
    this.p += v.length;
  }
  bytes(v: Uint8Array, what: string): void {
    if (v.length > 65535) throw new MqttProtocolError(`${what} is longer than 65535 bytes`, MALFORMED);
    this.u16(v.length);
    this.raw(v);
  }
  str(s: string, what: string): void {
    const n = utf8Length(s);
    if (n > 65535) throw new MqttProtocolError(`${what} is longer than 65535 bytes`, MALFORMED);
    this.u16(n);
    if (this.out) utf8Write(s, this.out, this.p);
    this.p += n;
  }
}

export function varintSize(v: number): number {
  return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

export const MAX_VARINT = 268435455;

export function checkUint(v: unknown, max: number, what: string): number {
  if (typeof v !== "number" || !(v >= 0 && v <= max) || Math.floor(v) !== v) {
    throw new MqttProtocolError(`${what} must be an integer from 0 to ${max}`, MALFORMED);
  }
  return v;
}
