import { SensorError } from "./error";

/**
 * NTC thermistor math. Pure: millivolts in, ohms and degrees Celsius out.
 *
 * Divider topologies (Vs = divider supply, Rf = fixed resistor, Vout at the ADC pin):
 *   "ntc-to-ground": Vs - Rf - Vout - NTC - GND   Vout = Vs * Rntc / (Rntc + Rf)
 *   "ntc-to-supply": Vs - NTC - Vout - Rf - GND   Vout = Vs * Rf / (Rntc + Rf)
 * A reading at either rail (within `railMarginMv`) is an open or short circuit.
 */
export type DividerTopology = "ntc-to-ground" | "ntc-to-supply";

export interface NtcDivider {
  topology: DividerTopology;
  fixedOhms: number;
  supplyMv: number;
  /** Readings this close to 0 or supplyMv are treated as open/short. Default 1% of supplyMv. */
  railMarginMv?: number;
}

export interface BetaModel {
  /** Resistance at t0C, e.g. 10000. */
  r0: number;
  /** Reference temperature, default 25 °C. */
  t0C?: number;
  /** Beta constant in kelvin, e.g. 3950. */
  beta: number;
}

/** 1/T = a + b ln R + c (ln R)^3, T in kelvin. */
export interface SteinhartHartModel {
  a: number;
  b: number;
  c: number;
}

export const KELVIN = 273.15;

function positive(x: number, what: string): void {
  if (!(typeof x === "number" && x > 0 && Number.isFinite(x))) throw new SensorError("config", `${what} must be a positive finite number`);
}

/** NTC resistance from the divider output; throws open-circuit / short-circuit at the rails. */
export function ntcResistance(mv: number, d: NtcDivider): number {
  positive(d.fixedOhms, "fixedOhms");
  positive(d.supplyMv, "supplyMv");
  const margin = d.railMarginMv ?? d.supplyMv * 0.01;
  if (!Number.isFinite(mv)) throw new SensorError("out-of-range", `divider voltage ${mv} mV is not finite`);
  const low = mv <= margin;
  const high = mv >= d.supplyMv - margin;
  if (low || high) {
    // Which rail means "open" depends on where the NTC sits.
    const open = d.topology === "ntc-to-ground" ? high : low;
    throw new SensorError(
      open ? "open-circuit" : "short-circuit",
      `divider reads ${mv.toFixed(0)} mV of ${d.supplyMv} mV supply (NTC ${open ? "disconnected" : "shorted"})`,
    );
  }
  if (d.topology === "ntc-to-ground") return (d.fixedOhms * mv) / (d.supplyMv - mv);
  if (d.topology === "ntc-to-supply") return (d.fixedOhms * (d.supplyMv - mv)) / mv;
  throw new SensorError("config", `unknown divider topology ${String(d.topology)}`);
}

export function betaTemperature(ohms: number, m: BetaModel): number {
  positive(ohms, "resistance");
  positive(m.r0, "r0");
  positive(m.beta, "beta");
  const t0 = (m.t0C ?? 25) + KELVIN;
  return 1 / (1 / t0 + Math.log(ohms / m.r0) / m.beta) - KELVIN;
}

/** Inverse of betaTemperature (for tables and tests). */
export function betaResistance(celsius: number, m: BetaModel): number {
  const t0 = (m.t0C ?? 25) + KELVIN;
  return m.r0 * Math.exp(m.beta * (1 / (celsius + KELVIN) - 1 / t0));
}

export function steinhartHartTemperature(ohms: number, m: SteinhartHartModel): number {
  positive(ohms, "resistance");
  const l = Math.log(ohms);
  const inv = m.a + m.b * l + m.c * l * l * l;
  if (!(inv > 0) || !Number.isFinite(inv)) throw new SensorError("out-of-range", `Steinhart-Hart gives no temperature for ${ohms} ohms`);
  return 1 / inv - KELVIN;
}

/** Steinhart-Hart coefficients through three (°C, ohms) points (e.g. from a datasheet table). */
export function steinhartHartFromPoints(p1: [number, number], p2: [number, number], p3: [number, number]): SteinhartHartModel {
  const L1 = Math.log(p1[1]), L2 = Math.log(p2[1]), L3 = Math.log(p3[1]);
  const Y1 = 1 / (p1[0] + KELVIN), Y2 = 1 / (p2[0] + KELVIN), Y3 = 1 / (p3[0] + KELVIN);
  const g2 = (Y2 - Y1) / (L2 - L1);
  const g3 = (Y3 - Y1) / (L3 - L1);
  const c = (g3 - g2) / (L3 - L2) / (L1 + L2 + L3);
  const b = g2 - c * (L1 * L1 + L1 * L2 + L2 * L2);
  const a = Y1 - (b + L1 * L1 * c) * L1;
  if (![a, b, c].every(Number.isFinite)) throw new SensorError("config", "Steinhart-Hart points must have distinct temperatures and resistances");
  return { a, b, c };
}

export interface TemperatureRange {
  minC: number;
  maxC: number;
}

/** Rejects temperatures outside the sensor's rated range (default -40..125 °C). */
export function checkTemperature(celsius: number, range: TemperatureRange = { minC: -40, maxC: 125 }): number {
  if (!(celsius >= range.minC && celsius <= range.maxC)) {
    throw new SensorError("out-of-range", `temperature ${Number.isFinite(celsius) ? celsius.toFixed(2) : celsius} °C outside ${range.minC}..${range.maxC} °C`);
  }
  return celsius;
}
