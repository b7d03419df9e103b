import { SensorError } from "./error";

/**
 * Per-board ESP32 ADC calibration, carried by boards/*.json: for one attenuation,
 * a piecewise-linear curve from raw readings (at the ADC's resolution, 12-bit on
 * ESP32) to millivolts at the pin, measured on that board. `points` are
 * [raw, mV] pairs, raw strictly increasing, mV non-decreasing, at least two.
 * A raw reading outside [first raw, last raw] is not extrapolated: it is a
 * SensorError ("out-of-range"), so give the ends of the usable range.
 */
export interface AdcCalibration {
  attenuationDb: 0 | 2.5 | 6 | 11;
  points: [raw: number, mV: number][];
}

export const MAX_CALIBRATION_POINTS = 64;

/** Checks board data (external input) and returns it typed; throws SensorError("config"). */
export function validateCalibration(data: unknown): AdcCalibration {
  const bad = (why: string): never => {
    throw new SensorError("config", `ADC calibration: ${why}`);
  };
  if (typeof data !== "object" || data === null) return bad("not an object");
  const { attenuationDb, points } = data as { attenuationDb?: unknown; points?: unknown };
  if (attenuationDb !== 0 && attenuationDb !== 2.5 && attenuationDb !== 6 && attenuationDb !== 11) {
    return bad("attenuationDb must be 0, 2.5, 6 or 11");
  }
  if (!Array.isArray(points) || points.length < 2 || points.length > MAX_CALIBRATION_POINTS) {
    return bad(`points must be an array of 2 to ${MAX_CALIBRATION_POINTS} [raw, mV] pairs`);
  }
  let prevRaw = -1;
  let prevMv = -Infinity;
  for (let i = 0; i < points.length; i++) {
    const p: unknown = points[i];
    if (!Array.isArray(p) || p.length !== 2) return bad(`point ${i} is not a [raw, mV] pair`);
    const [raw, mv] = p as unknown[];
    if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 0 || raw > 65535) return bad(`point ${i}: raw must be an integer 0..65535`);
    if (typeof mv !== "number" || !Number.isFinite(mv) || mv < 0 || mv > 5000) return bad(`point ${i}: mV must be a number 0..5000`);
    if (raw <= prevRaw) return bad(`point ${i}: raw values must be strictly increasing`);
    if (mv < prevMv) return bad(`point ${i}: mV values must not decrease`);
    prevRaw = raw;
    prevMv = mv;
  }
  return data as AdcCalibration;
}

/** Millivolts at the pin for a raw (possibly averaged, so fractional) reading. */
export function rawToMillivolts(cal: AdcCalibration, raw: number): number {
  const pts = cal.points;
  const first = pts[0][0];
  const last = pts[pts.length - 1][0];
  if (!(raw >= first && raw <= last)) {
    throw new SensorError("out-of-range", `ADC raw ${raw} outside the calibrated range ${first}..${last}`);
  }
  let i = 1;
  while (pts[i][0] < raw) i++;
  const [r0, m0] = pts[i - 1];
  const [r1, m1] = pts[i];
  return m0 + ((raw - r0) * (m1 - m0)) / (r1 - r0);
}
