// Simulated I2C peripherals on the virtual ESP32's bus.
import type { Signal } from "./scenario.ts";
import { parseBme280Calibration, bme280Temperature, bme280Pressure, bme280Humidity } from "../../sdk/sensors/bme280-compensate.ts";

export class I2CNack extends Error {}

export interface I2CPeripheral {
  write(bytes: Uint8Array, nowMs: number): void;
  read(count: number, nowMs: number): Uint8Array;
}

/** Sensirion CRC-8: polynomial 0x31, init 0xFF (SHT3x datasheet 4.12). */
export function sensirionCrc8(a: number, b: number): number {
  let crc = 0xff;
  for (const byte of [a, b]) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/**
 * SHT3x-DIS: single-shot measurements (0x2400/0x240B/0x2416 without clock
 * stretching, 0x2C06/0x2C0D/0x2C10 with), soft reset 0x30A2, status 0xF32D,
 * clear status 0x3041. A read before the measurement is done is NACKed, as the
 * chip does without clock stretching.
 */
export class Sht3x implements I2CPeripheral {
  private pending: { readyAt: number; data: Uint8Array } | undefined;
  private status = 0x8010; // alert pending + reset detected after power-up

  constructor(private readonly inputs: Record<string, Signal>, private readonly startMs: number) {}

  private measurement(nowMs: number): Uint8Array {
    const t = this.inputs.temperature?.(nowMs - this.startMs) ?? 22;
    const rh = this.inputs.humidity?.(nowMs - this.startMs) ?? 45;
    // Datasheet 4.13: T = -45 + 175 * St / 65535, RH = 100 * Srh / 65535
    const st = Math.max(0, Math.min(65535, Math.round(((t + 45) * 65535) / 175)));
    const srh = Math.max(0, Math.min(65535, Math.round((rh * 65535) / 100)));
    const out = new Uint8Array(6);
    out[0] = st >> 8;
    out[1] = st & 0xff;
    out[2] = sensirionCrc8(out[0], out[1]);
    out[3] = srh >> 8;
    out[4] = srh & 0xff;
    out[5] = sensirionCrc8(out[3], out[4]);
    return out;
  }

  write(bytes: Uint8Array, nowMs: number): void {
    if (bytes.length !== 2) throw new I2CNack("SHT3x: commands are 2 bytes");
    const cmd = (bytes[0] << 8) | bytes[1];
    const durations: Record<number, number> = { 0x2400: 15, 0x240b: 6, 0x2416: 4, 0x2c06: 15, 0x2c0d: 6, 0x2c10: 4 };
    if (cmd in durations) {
      this.pending = { readyAt: nowMs + durations[cmd], data: this.measurement(nowMs) };
    } else if (cmd === 0x30a2) {
      this.pending = undefined;
      this.status = 0x0010;
    } else if (cmd === 0xf32d) {
      const s = this.status;
      this.pending = { readyAt: nowMs, data: Uint8Array.of(s >> 8, s & 0xff, sensirionCrc8(s >> 8, s & 0xff)) };
    } else if (cmd === 0x3041) {
      this.status &= ~0x8c13 & 0xffff;
    } else {
      throw new I2CNack(`SHT3x: unknown command 0x${cmd.toString(16)}`);
    }
  }

  read(count: number, nowMs: number): Uint8Array {
    const p = this.pending;
    if (!p || nowMs < p.readyAt) throw new I2CNack("SHT3x: no data ready (read NACKed)");
    this.pending = undefined;
    const out = new Uint8Array(count);
    out.set(p.data.subarray(0, count));
    return out;
  }
}

/**
 * Bosch BME280 (chip id 0x60) in forced mode: trimming registers, ctrl_hum,
 * ctrl_meas (a forced-mode write starts a measurement), status (measuring bit)
 * and the data registers. Raw values are found by inverting the datasheet's
 * compensation (monotonic) for the scripted temperature, pressure and humidity.
 */
export class Bme280 implements I2CPeripheral {
  private readonly regs = new Uint8Array(256);
  private pointer = 0;
  private measuringUntil = -1;

  constructor(private readonly inputs: Record<string, Signal>, private readonly startMs: number) {
    this.regs[0xd0] = 0x60;
    this.regs.set(BME280_TRIM_A, 0x88);
    this.regs.set(BME280_TRIM_E, 0xe1);
  }

  write(bytes: Uint8Array, nowMs: number): void {
    if (bytes.length === 0) throw new I2CNack("BME280: empty write");
    this.pointer = bytes[0];
    // Register writes come as (register, value) pairs.
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      const reg = bytes[i];
      this.regs[reg] = bytes[i + 1];
      if (reg === 0xf4 && (bytes[i + 1] & 3) !== 0) this.measure(nowMs);
    }
  }

  read(count: number, nowMs: number): Uint8Array {
    this.regs[0xf3] = nowMs < this.measuringUntil ? 0x08 : 0;
    const out = this.regs.slice(this.pointer, this.pointer + count);
    this.pointer = (this.pointer + count) & 0xff;
    return out;
  }

  private measure(nowMs: number): void {
    const t = nowMs - this.startMs;
    const c = parseBme280Calibration(BME280_TRIM_A, BME280_TRIM_E);
    const adcT = invert((x) => bme280Temperature(x, c).temperature, this.inputs.temperature?.(t) ?? 22, 0, 0xfffff);
    const tFine = bme280Temperature(adcT, c).tFine;
    const adcP = invert((x) => bme280Pressure(x, tFine, c), this.inputs.pressure?.(t) ?? 101_325, 0, 0xfffff);
    const adcH = invert((x) => bme280Humidity(x, tFine, c), this.inputs.humidity?.(t) ?? 45, 0, 0xffff);
    const r = this.regs;
    [r[0xf7], r[0xf8], r[0xf9]] = [adcP >> 12, (adcP >> 4) & 0xff, (adcP & 0xf) << 4];
    [r[0xfa], r[0xfb], r[0xfc]] = [adcT >> 12, (adcT >> 4) & 0xff, (adcT & 0xf) << 4];
    [r[0xfd], r[0xfe]] = [adcH >> 8, adcH & 0xff];
    this.measuringUntil = nowMs + 8; // typical time at 1x oversampling of all three (datasheet 9.1: 8 ms typ, 9.3 max)
  }
}

/** The raw value in [lo, hi] whose compensated value is closest to target (f monotonic, either way). */
function invert(f: (x: number) => number, target: number, lo: number, hi: number): number {
  const rising = f(hi) > f(lo);
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (f(mid) < target === rising) lo = mid;
    else hi = mid;
  }
  return Math.abs(f(lo) - target) <= Math.abs(f(hi) - target) ? lo : hi;
}

// Trimming registers of the simulated part: the datasheet's example T/P values
// (section 8.1 worked example) and typical humidity values.
function le16(...words: number[]): number[] {
  return words.flatMap((w) => [w & 0xff, (w >> 8) & 0xff]);
}
const BME280_TRIM_A = Uint8Array.from([...le16(27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000), 0, 75]);
const BME280_TRIM_E = Uint8Array.from([...le16(362), 0, 313 >> 4, ((50 & 0xf) << 4) | (313 & 0xf), 50 >> 4, 30]);
