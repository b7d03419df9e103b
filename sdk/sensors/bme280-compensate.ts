import { SensorError } from "./error";

/**
 * Bosch BME280 trimming parameters and compensation: the double-precision
 * formulas of the datasheet (BST-BME280-DS002, §8.1 / appendix "compensation
 * formulas in double precision floating point"). Pure functions.
 */
export interface Bme280Calibration {
  T1: number; T2: number; T3: number;
  P1: number; P2: number; P3: number; P4: number; P5: number; P6: number; P7: number; P8: number; P9: number;
  H1: number; H2: number; H3: number; H4: number; H5: number; H6: number;
}

export interface Bme280Raw {
  /** 20-bit raw values; 0x80000 means "skipped". */
  adcT: number;
  adcP: number;
  /** 16-bit raw value; 0x8000 means "skipped". */
  adcH: number;
}

export interface Bme280Reading {
  /** °C */
  temperature: number;
  /** Pa */
  pressure: number;
  /** %RH */
  humidity: number;
}

const u16 = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8);
const s16 = (b: Uint8Array, i: number) => (u16(b, i) << 16) >> 16;
const s8 = (x: number) => (x << 24) >> 24;

/**
 * Parses the trimming registers: `a` = 26 bytes from 0x88 (0x88..0xA1),
 * `e` = 7 bytes from 0xE1 (0xE1..0xE7). Little-endian words; H4/H5 share 0xE5.
 */
export function parseBme280Calibration(a: Uint8Array, e: Uint8Array): Bme280Calibration {
  if (a.length !== 26 || e.length !== 7) throw new SensorError("short-read", "BME280: calibration needs 26 + 7 bytes");
  return {
    T1: u16(a, 0), T2: s16(a, 2), T3: s16(a, 4),
    P1: u16(a, 6), P2: s16(a, 8), P3: s16(a, 10), P4: s16(a, 12), P5: s16(a, 14),
    P6: s16(a, 16), P7: s16(a, 18), P8: s16(a, 20), P9: s16(a, 22),
    H1: a[25],
    H2: s16(e, 0),
    H3: e[2],
    H4: s8(e[3]) * 16 + (e[4] & 0x0f),
    H5: s8(e[5]) * 16 + (e[4] >> 4),
    H6: s8(e[6]),
  };
}

/** Raw values from the 8 data bytes at 0xF7..0xFE (press msb/lsb/xlsb, temp msb/lsb/xlsb, hum msb/lsb). */
export function parseBme280Raw(d: Uint8Array): Bme280Raw {
  if (d.length !== 8) throw new SensorError("short-read", "BME280: data needs 8 bytes");
  return {
    adcP: (d[0] << 12) | (d[1] << 4) | (d[2] >> 4),
    adcT: (d[3] << 12) | (d[4] << 4) | (d[5] >> 4),
    adcH: (d[6] << 8) | d[7],
  };
}

/** t_fine (shared by all three formulas) and temperature in °C. */
export function bme280Temperature(adcT: number, c: Bme280Calibration): { tFine: number; temperature: number } {
  const var1 = (adcT / 16384.0 - c.T1 / 1024.0) * c.T2;
  const d = adcT / 131072.0 - c.T1 / 8192.0;
  const var2 = d * d * c.T3;
  const tFine = var1 + var2;
  return { tFine, temperature: tFine / 5120.0 };
}

/** Pressure in Pa. */
export function bme280Pressure(adcP: number, tFine: number, c: Bme280Calibration): number {
  let var1 = tFine / 2.0 - 64000.0;
  let var2 = (var1 * var1 * c.P6) / 32768.0;
  var2 = var2 + var1 * c.P5 * 2.0;
  var2 = var2 / 4.0 + c.P4 * 65536.0;
  var1 = ((c.P3 * var1 * var1) / 524288.0 + c.P2 * var1) / 524288.0;
  var1 = (1.0 + var1 / 32768.0) * c.P1;
  if (var1 === 0) throw new SensorError("config", "BME280: P1 calibration is zero (division by zero)");
  let p = 1048576.0 - adcP;
  p = ((p - var2 / 4096.0) * 6250.0) / var1;
  var1 = (c.P9 * p * p) / 2147483648.0;
  var2 = (p * c.P8) / 32768.0;
  return p + (var1 + var2 + c.P7) / 16.0;
}

/** Relative humidity in %RH, clamped to 0..100 as in the datasheet. */
export function bme280Humidity(adcH: number, tFine: number, c: Bme280Calibration): number {
  let h = tFine - 76800.0;
  h = (adcH - (c.H4 * 64.0 + (c.H5 / 16384.0) * h)) * ((c.H2 / 65536.0) * (1.0 + (c.H6 / 67108864.0) * h * (1.0 + (c.H3 / 67108864.0) * h)));
  h = h * (1.0 - (c.H1 * h) / 524288.0);
  return h > 100 ? 100 : h < 0 ? 0 : h;
}

/** Rated ranges (datasheet §1): -40..85 °C, 300..1100 hPa. */
export const BME280_RANGE = { minC: -40, maxC: 85, minPa: 30000, maxPa: 110000 } as const;

/** All three values; skipped channels and values outside the rated range are SensorErrors. */
export function bme280Compensate(raw: Bme280Raw, c: Bme280Calibration): Bme280Reading {
  if (raw.adcT === 0x80000) throw new SensorError("no-data", "BME280: temperature not measured (0x80000)");
  if (raw.adcP === 0x80000) throw new SensorError("no-data", "BME280: pressure not measured (0x80000)");
  if (raw.adcH === 0x8000) throw new SensorError("no-data", "BME280: humidity not measured (0x8000)");
  const { tFine, temperature } = bme280Temperature(raw.adcT, c);
  if (!(temperature >= BME280_RANGE.minC && temperature <= BME280_RANGE.maxC)) {
    throw new SensorError("out-of-range", `BME280: temperature ${temperature.toFixed(2)} °C outside ${BME280_RANGE.minC}..${BME280_RANGE.maxC} °C`);
  }
  const pressure = bme280Pressure(raw.adcP, tFine, c);
  if (!(pressure >= BME280_RANGE.minPa && pressure <= BME280_RANGE.maxPa)) {
    throw new SensorError("out-of-range", `BME280: pressure ${pressure.toFixed(0)} Pa outside ${BME280_RANGE.minPa}..${BME280_RANGE.maxPa} Pa`);
  }
  return { temperature, pressure, humidity: bme280Humidity(raw.adcH, tFine, c) };
}

/** Oversampling setting (0 = skipped, 1..5 = x1, x2, x4, x8, x16) to its count. */
const OSRS = [0, 1, 2, 4, 8, 16];

/** Maximum forced-mode measurement time in ms (datasheet §9.1, appendix B). */
export function bme280MaxMeasureMs(osrsT: number, osrsP: number, osrsH: number): number {
  const t = OSRS[osrsT] ?? 0, p = OSRS[osrsP] ?? 0, h = OSRS[osrsH] ?? 0;
  return 1.25 + 2.3 * t + (p ? 2.3 * p + 0.575 : 0) + (h ? 2.3 * h + 0.575 : 0);
}
