// Scheduler state and its home in retained (RTC) memory: a 4096-byte block
//   0 magic u32 | 4 CRC-32 of [8, 8+length) | 8 length u32
//   12.. fields as float64 (FIELDS order) | ring: count u32, then 16-byte readings
// retained() returns a copy; the whole used span is written back with retain().
import { crc32 } from "../storage/crc32";
import { readU32, writeU32 } from "../storage/queue";
import { DEFAULT_CONFIG, type SleepConfig } from "./config";
import { RECORD_SIZE } from "./record";

export const RETAINED_BYTES = 4096;
const MAGIC = 0x314c5358; // "XSL1"
const HEADER = 12;

export interface SleepState {
  /** Sequence number of the next reading (starts at 1). */
  nextSeq: number;
  /** Raw device clock (ms) of the next sampling wake. */
  nextSampleAt: number;
  /** Raw clock of the last successful uplink; -1: none since power-on. */
  lastUplinkAt: number;
  /** No uplink attempt before this raw time (backoff); 0: none. */
  retryAt: number;
  /** Consecutive failed uplinks. */
  failures: number;
  /** Corrected time = raw + offset (from the server on each uplink). */
  clockOffsetMs: number;
  /** Threshold zone of the last reading: 0 below low, 1 normal, 2 above high. */
  zone: number;
  lowBattery: number;
  alarmSent: number;
  /** An urgent reading (threshold, event, alarm) waits for an uplink that failed. */
  urgent: number;
  /** Readings left on flash after the last uplink (more than one uplink carries). */
  backlog: number;
  /** Readings lost to power loss or retained-memory corruption before reaching flash (exact: a copy of the queue's count, see scheduler.ts). */
  lost: number;
  /** Retained block found invalid and rebuilt from flash. */
  recoveries: number;
  wakes: number;
  uplinks: number;
  uplinkFailures: number;
  /** Total radio-on time of uplinks, ms. */
  radioMs: number;
  /** Readings in the retained ring not yet written to flash. */
  ring: Uint8Array;
  config: SleepConfig;
}

const NUMERIC: (keyof SleepState)[] = [
  "nextSeq", "nextSampleAt", "lastUplinkAt", "retryAt", "failures", "clockOffsetMs", "zone", "lowBattery", "alarmSent",
  "urgent", "backlog", "lost", "recoveries", "wakes", "uplinks", "uplinkFailures", "radioMs",
];
const CONFIG: (keyof SleepConfig)[] = [
  "sampleS", "uplinkS", "batch", "high", "low", "hysteresis", "lowBatteryMv", "lowBatteryStretch", "radioBudgetMs",
  "backoffS", "maxBackoffS", "perMessage", "maxPerUplink", "checkpointEvery", "mode",
];
const RING_AT = HEADER + (NUMERIC.length + CONFIG.length) * 8;
export const RING_CAPACITY = Math.floor((RETAINED_BYTES - RING_AT - 4) / RECORD_SIZE);

export function initialState(config: SleepConfig = DEFAULT_CONFIG, nextSeq = 1): SleepState {
  return {
    nextSeq, nextSampleAt: 0, lastUplinkAt: -1, retryAt: 0, failures: 0, clockOffsetMs: 0, zone: 1, lowBattery: 0, alarmSent: 0,
    urgent: 0, backlog: 0, lost: 0, recoveries: 0, wakes: 0, uplinks: 0, uplinkFailures: 0, radioMs: 0,
    ring: new Uint8Array(0), config: { ...config },
  };
}

/** Encodes the state (and ring) into the retained layout; returns the used span. */
export function encodeState(s: SleepState): Uint8Array {
  const ringCount = Math.min(RING_CAPACITY, Math.floor(s.ring.length / RECORD_SIZE));
  const length = RING_AT + 4 + ringCount * RECORD_SIZE;
  const out = new Uint8Array(length);
  const dv = new DataView(out.buffer);
  let at = HEADER;
  for (const k of NUMERIC) {
    dv.setFloat64(at, s[k] as number, true);
    at += 8;
  }
  for (const k of CONFIG) {
    const v = s.config[k];
    dv.setFloat64(at, k === "mode" ? (v === "naive" ? 1 : 0) : v === null ? NaN : (v as number), true);
    at += 8;
  }
  writeU32(out, RING_AT, ringCount);
  out.set(s.ring.subarray(s.ring.length - ringCount * RECORD_SIZE), RING_AT + 4);
  writeU32(out, 0, MAGIC);
  writeU32(out, 8, length - 8);
  writeU32(out, 4, crc32(out, 8, length));
  return out;
}

/** Decodes a retained block; undefined when it is blank, from another layout, or fails its CRC. */
export function decodeState(block: Uint8Array): SleepState | undefined {
  if (block.length < RING_AT + 4 || readU32(block, 0) !== MAGIC) return undefined;
  const length = readU32(block, 8) + 8;
  if (length < RING_AT + 4 || length > block.length || length > RETAINED_BYTES) return undefined;
  if (crc32(block, 8, length) !== readU32(block, 4)) return undefined;
  const ringCount = readU32(block, RING_AT);
  if (ringCount > RING_CAPACITY || RING_AT + 4 + ringCount * RECORD_SIZE !== length) return undefined;
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const s = initialState();
  let at = HEADER;
  for (const k of NUMERIC) {
    const v = dv.getFloat64(at, true);
    if (!Number.isFinite(v)) return undefined;
    (s as unknown as Record<string, number>)[k] = v;
    at += 8;
  }
  const c = s.config as unknown as Record<string, unknown>;
  for (const k of CONFIG) {
    const v = dv.getFloat64(at, true);
    at += 8;
    if (k === "mode") c[k] = v === 1 ? "naive" : "batched";
    else if (k === "high" || k === "low") c[k] = Number.isNaN(v) ? null : v;
    else if (!Number.isFinite(v)) return undefined;
    else c[k] = v;
  }
  s.ring = block.slice(RING_AT + 4, length);
  return s;
}
