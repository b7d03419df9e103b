// The sleep plan, sans-I/O: what one wake does, from (state, now, reading)
// to (new state, record to keep, uplink or not and why, how long to sleep).
// No clocks, no storage, no radio in here: scheduler.ts does the I/O.
import { FLAG_ALARM, FLAG_BOOT, FLAG_EVENT, FLAG_LEVEL, FLAG_THRESHOLD, RECORD_SIZE, encodeReading, type Reading } from "./record";
import { RING_CAPACITY, type SleepState } from "./state";

export type WakeKind = "power-on" | "timer" | "gpio";

export interface WakeInput {
  /** Raw device clock, ms (the RTC: keeps counting through deep sleep). */
  now: number;
  kind: WakeKind;
  /** Sensor value; undefined when the sensor failed (no reading is made). */
  value?: number;
  batteryMv?: number;
  /** GPIO wake: the level of the pin after waking. */
  level?: number;
  /** Readings on flash not yet acknowledged. */
  queued: number;
  /** Flash queue capacity, readings. */
  capacity: number;
  /** The app has work for the cloud (a job in progress, a report to make). */
  pendingJob?: boolean;
}

export type UplinkReason = "boot" | "interval" | "threshold" | "event" | "full" | "batch" | "job" | "alarm" | "urgent" | "backlog" | "naive";

export interface WakePlan {
  state: SleepState;
  reading?: Reading;
  uplink: boolean;
  reasons: UplinkReason[];
  /** Uplink wanted but held back by the failure backoff. */
  deferred: boolean;
  /** Move the ring to flash now. */
  spill: boolean;
}

export interface UplinkOutcome {
  /** Raw clock at the start of the wake that uplinked. */
  startedAt: number;
  /** Raw clock when the radio went off. */
  now: number;
  ok: boolean;
  /** Server time (epoch ms) seen during the uplink, with the raw clock at that moment. */
  serverTimeMs?: number;
  serverSeenAt?: number;
  /** Readings still on flash after the uplink. */
  remaining: number;
  radioMs: number;
}

export const SAMPLE_TOLERANCE_MS = 2000;

function stretch(s: SleepState): number {
  return s.lowBattery ? s.config.lowBatteryStretch : 1;
}
export function sampleMs(s: SleepState): number {
  return s.config.sampleS * 1000 * stretch(s);
}
export function uplinkMs(s: SleepState): number {
  return s.config.uplinkS * 1000 * stretch(s);
}

/** Threshold zone with hysteresis: 0 below low, 1 normal, 2 above high. */
export function zoneOf(s: SleepState, value: number): number {
  const { high, low, hysteresis } = s.config;
  if (high !== null && (value > high || (s.zone === 2 && value > high - hysteresis))) return 2;
  if (low !== null && (value < low || (s.zone === 0 && value < low + hysteresis))) return 0;
  return 1;
}

/** Plans one wake. The input state is not modified. */
export function planWake(prev: SleepState, input: WakeInput): WakePlan {
  const s: SleepState = { ...prev, config: { ...prev.config } };
  const { now } = input;
  const reasons: UplinkReason[] = [];
  s.wakes++;
  let flags = 0;
  if (input.kind === "power-on") {
    flags |= FLAG_BOOT;
    s.nextSampleAt = now;
    reasons.push("boot");
  }
  // Sampling schedule: fixed grid, so wake latency does not accumulate.
  const due = input.kind !== "gpio" || now + SAMPLE_TOLERANCE_MS >= s.nextSampleAt;
  if (input.kind === "gpio") {
    flags |= FLAG_EVENT | (input.level ? FLAG_LEVEL : 0);
    reasons.push("event");
  }
  if (due || input.kind === "gpio") {
    const step = sampleMs(s);
    if (due) {
      if (s.nextSampleAt + 10 * step < now) s.nextSampleAt = now; // fell far behind (clock jump, long outage of power)
      while (s.nextSampleAt <= now + SAMPLE_TOLERANCE_MS) s.nextSampleAt += step;
    }
  }
  // Battery: low-battery mode with a little hysteresis; one final alarm.
  if (input.batteryMv !== undefined && input.batteryMv > 0) {
    if (!s.lowBattery && input.batteryMv < s.config.lowBatteryMv) {
      s.lowBattery = 1;
      if (!s.alarmSent) {
        flags |= FLAG_ALARM;
        reasons.push("alarm");
      }
      // Re-plan the next sample on the stretched grid.
      s.nextSampleAt = now + sampleMs(s);
    } else if (s.lowBattery && input.batteryMv > s.config.lowBatteryMv + 100) {
      s.lowBattery = 0;
      s.alarmSent = 0;
      s.nextSampleAt = now + sampleMs(s);
    }
  }
  let reading: Reading | undefined;
  if (input.value !== undefined && Number.isFinite(input.value)) {
    const zone = zoneOf(s, input.value);
    if (zone !== s.zone && input.kind !== "power-on") {
      flags |= FLAG_THRESHOLD;
      reasons.push("threshold");
    }
    s.zone = zone;
  }
  if (input.value !== undefined || flags & (FLAG_EVENT | FLAG_ALARM)) {
    reading = {
      seq: s.nextSeq,
      t: Math.floor((now + s.clockOffsetMs) / 1000),
      value: input.value !== undefined && Number.isFinite(input.value) ? input.value : 0,
      batteryMv: input.batteryMv ?? 0,
      flags,
    };
    s.nextSeq++;
    s.ring = appendRing(s.ring, reading);
  }
  const pending = input.queued + s.ring.length / RECORD_SIZE;
  if (s.config.mode === "naive") reasons.push("naive");
  else {
    if (s.lastUplinkAt < 0 && !reasons.includes("boot")) reasons.push("boot");
    if (s.lastUplinkAt >= 0 && now - s.lastUplinkAt + SAMPLE_TOLERANCE_MS >= uplinkMs(s)) reasons.push("interval");
    if (pending >= s.config.batch) reasons.push("batch");
    if (pending >= input.capacity * 0.9) reasons.push("full");
    if (input.pendingJob) reasons.push("job");
    if (s.urgent) reasons.push("urgent");
    if (s.backlog) reasons.push("backlog");
  }
  const urgentNow = reasons.includes("threshold") || reasons.includes("event") || reasons.includes("alarm");
  if (urgentNow) s.urgent = 1;
  let uplink = reasons.length > 0;
  let deferred = false;
  if (uplink && s.failures > 0 && now < s.retryAt) {
    uplink = false; // never hammer a dead network: wait out the backoff
    deferred = true;
  }
  const ringCount = s.ring.length / RECORD_SIZE;
  const spill = uplink || ringCount >= s.config.checkpointEvery || ringCount >= RING_CAPACITY;
  return { state: s, reading, uplink, reasons, deferred, spill };
}

function appendRing(ring: Uint8Array, r: Reading): Uint8Array {
  const keep = Math.min(ring.length, (RING_CAPACITY - 1) * RECORD_SIZE);
  const out = new Uint8Array(keep + RECORD_SIZE);
  out.set(ring.subarray(ring.length - keep));
  encodeReading(r, out, keep);
  return out;
}

/** Folds an uplink's outcome into the state: success resets the backoff; failure doubles it (capped). */
export function afterUplink(prev: SleepState, o: UplinkOutcome): SleepState {
  const s: SleepState = { ...prev, config: { ...prev.config } };
  s.radioMs += Math.max(0, o.radioMs);
  s.backlog = o.remaining > 0 ? 1 : 0;
  if (o.serverTimeMs !== undefined && Number.isFinite(o.serverTimeMs) && o.serverTimeMs > 1.5e12 && o.serverTimeMs < 4.2e12)
    s.clockOffsetMs = Math.round(o.serverTimeMs - (o.serverSeenAt ?? o.now));
  if (o.ok) {
    s.uplinks++;
    s.failures = 0;
    s.retryAt = 0;
    s.lastUplinkAt = o.startedAt;
    s.urgent = 0;
    if (s.lowBattery) s.alarmSent = 1;
  } else {
    s.uplinkFailures++;
    s.failures++;
    const delay = Math.min(s.config.maxBackoffS, s.config.backoffS * 2 ** Math.min(20, s.failures - 1)) * 1000;
    s.retryAt = o.now + delay;
  }
  return s;
}

/** Deep-sleep duration from now to the next sampling wake (at least 1 s). */
export function sleepMsUntilNext(s: SleepState, now: number): number {
  return Math.max(1000, s.nextSampleAt - now);
}
