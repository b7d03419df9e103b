import { encode } from "../cbor/encode";
// One reading as 16 bytes (the unit of the retained ring and the flash queue):
//   0 seq u32 | 4 time u32 (epoch seconds, corrected clock) | 8 value i32 (milli-units)
//   12 battery u16 (mV) | 14 flags u8 | 15 reserved
import { readU32, writeU32 } from "../storage/queue";

export const RECORD_SIZE = 16;

export const FLAG_THRESHOLD = 1; // value crossed a threshold at this reading
export const FLAG_EVENT = 2; // a GPIO wake (door, button)
export const FLAG_ALARM = 4; // low-battery alarm
export const FLAG_BOOT = 8; // first reading after power-on
export const FLAG_LEVEL = 16; // for events: the pin level after the wake

export interface Reading {
  seq: number;
  /** Epoch seconds (server-corrected clock). */
  t: number;
  /** Sensor value (°C for the reference node), stored to 0.001. */
  value: number;
  batteryMv: number;
  flags: number;
}

export function encodeReading(r: Reading, into: Uint8Array = new Uint8Array(RECORD_SIZE), at = 0): Uint8Array {
  writeU32(into, at, r.seq >>> 0);
  writeU32(into, at + 4, Math.max(0, Math.floor(r.t)) >>> 0);
  const v = Math.round(r.value * 1000);
  writeU32(into, at + 8, (Math.max(-2147483648, Math.min(2147483647, Number.isFinite(v) ? v : 0)) | 0) >>> 0);
  const b = Math.max(0, Math.min(65535, Math.round(r.batteryMv) || 0));
  into[at + 12] = b & 0xff;
  into[at + 13] = b >>> 8;
  into[at + 14] = r.flags & 0xff;
  into[at + 15] = 0;
  return into;
}

export function decodeReading(bytes: Uint8Array, at = 0): Reading {
  return {
    seq: readU32(bytes, at),
    t: readU32(bytes, at + 4),
    value: (readU32(bytes, at + 8) | 0) / 1000,
    batteryMv: bytes[at + 12] | (bytes[at + 13] << 8),
    flags: bytes[at + 14],
  };
}

export function decodeReadings(bytes: Uint8Array): Reading[] {
  const out: Reading[] = [];
  for (let at = 0; at + RECORD_SIZE <= bytes.length; at += RECORD_SIZE) out.push(decodeReading(bytes, at));
  return out;
}

/** The telemetry message in CBOR (RFC 8949): the same map as the JSON form, about half the bytes. */
export function telemetryCbor(readings: Reading[], meta?: Record<string, number>): Uint8Array {
  const rows: (number | null)[][] = [];
  for (const r of readings) rows.push([r.seq, r.t, Number.isFinite(r.value) ? r.value : null, r.batteryMv, r.flags]);
  const message: Record<string, unknown> = { fields: ["seq", "t", "v", "mV", "flags"], r: rows };
  if (meta) for (const k in meta) message[k] = Number.isFinite(meta[k]) ? meta[k] : 0;
  return encode(message);
}

/** The telemetry message: {"fields":[...],"r":[[seq,t,v,mV,flags],...], counters...}. */
export function telemetryPayload(readings: Reading[], meta?: Record<string, number>): string {
  let s = '{"fields":["seq","t","v","mV","flags"],"r":[';
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i];
    s += (i ? "," : "") + "[" + r.seq + "," + r.t + "," + r.value + "," + r.batteryMv + "," + r.flags + "]";
  }
  s += "]";
  if (meta) for (const k in meta) s += ',"' + k + '":' + (Number.isFinite(meta[k]) ? meta[k] : 0);
  return s + "}";
}
