// Pure sensor math against datasheet values and independent reference formulas.
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc8 } from "../../sdk/sensors/crc8.ts";
import { sht3xConvert } from "../../sdk/sensors/sht3x-convert.ts";
import {
  bme280Temperature, bme280Pressure, bme280Humidity, bme280Compensate, parseBme280Calibration, parseBme280Raw,
  bme280MaxMeasureMs, type Bme280Calibration,
} from "../../sdk/sensors/bme280-compensate.ts";
import {
  ntcResistance, betaTemperature, betaResistance, steinhartHartTemperature, steinhartHartFromPoints, checkTemperature,
} from "../../sdk/sensors/thermistor.ts";
import { batteryMillivolts } from "../../sdk/sensors/battery.ts";
import { rawToMillivolts, validateCalibration, type AdcCalibration } from "../../sdk/sensors/calibration.ts";
import { median, trimmedMean, reduceSamples } from "../../sdk/sensors/oversample.ts";
import { wakeOptions } from "../../sdk/sensors/wake.ts";
import { SensorError } from "../../sdk/sensors/error.ts";
import { refInt } from "./bosch-reference.ts";

const close = (a: number, b: number, eps: number, msg?: string) => assert.ok(Math.abs(a - b) <= eps, `${msg ?? ""} ${a} vs ${b} (eps ${eps})`);
const code = (c: string, re?: RegExp) => (e: unknown) => e instanceof SensorError && e.code === c && (!re || re.test(e.message));

// Bitwise CRC from the definition (polynomial division over GF(2)), independent of the table-free loop under test.
function crcReference(bytes: number[]): number {
  let reg = 0xff;
  for (const b of bytes) {
    for (let i = 7; i >= 0; i--) {
      const top = (reg >> 7) & 1;
      const bit = (b >> i) & 1;
      reg = (reg << 1) & 0xff;
      if (top ^ bit) reg ^= 0x31;
    }
  }
  return reg;
}

test("SHT3x CRC-8: datasheet example 0xBEEF -> 0x92, and the definition", () => {
  assert.equal(crc8(Uint8Array.of(0xbe, 0xef)), 0x92);
  for (let a = 0; a < 256; a += 7) for (let b = 0; b < 256; b += 11) assert.equal(crc8(Uint8Array.of(a, b)), crcReference([a, b]));
  assert.equal(crc8(new Uint8Array(0)), 0xff);
});

function shtFrame(st: number, srh: number): Uint8Array {
  const f = Uint8Array.of(st >> 8, st & 0xff, 0, srh >> 8, srh & 0xff, 0);
  f[2] = crcReference([f[0], f[1]]);
  f[5] = crcReference([f[3], f[4]]);
  return f;
}

test("SHT3x conversion (datasheet §4.13): T = -45 + 175 St/65535, RH = 100 Srh/65535", () => {
  const r = sht3xConvert(shtFrame(0x6666, 0x8000));
  close(r.temperature, -45 + (175 * 0x6666) / 65535, 1e-12);
  close(r.temperature, 25.0, 0.001);
  close(r.humidity, 50.0008, 0.0001);
  close(sht3xConvert(shtFrame(0x6666, 0xffff)).humidity, 100, 1e-12);
  close(sht3xConvert(shtFrame(0x4000, 0)).temperature, -1.25, 0.001);
  assert.throws(() => sht3xConvert(shtFrame(0, 0)), code("out-of-range", /-45\.00 °C/)); // -45 °C: below rated -40
  assert.throws(() => sht3xConvert(shtFrame(0xffff, 0)), code("out-of-range", /130\.00 °C/));
  const bad = shtFrame(0x6666, 0x8000);
  bad[2] ^= 1;
  assert.throws(() => sht3xConvert(bad), code("crc", /temperature CRC/));
  const bad2 = shtFrame(0x6666, 0x8000);
  bad2[4] ^= 0x10;
  assert.throws(() => sht3xConvert(bad2), code("crc", /humidity CRC/));
  assert.throws(() => sht3xConvert(new Uint8Array(5)), code("short-read"));
});

// BMP280 datasheet §8.2 / 3.12 worked example (the BME280 uses the same T and P formulas).
const BMP_EXAMPLE = { T1: 27504, T2: 26435, T3: -1000, P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000 };
// A typical BME280's humidity trimming (values as read from a module).
const HUM = { H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30 };
const CAL: Bme280Calibration = { ...BMP_EXAMPLE, ...HUM };

test("BME280 temperature and pressure: the Bosch worked example (adc_T 519888, adc_P 415148)", () => {
  const { tFine, temperature } = bme280Temperature(519888, CAL);
  // The datasheet prints these to two decimals: t_fine 128422.29, T 25.08 °C, p 100653.27 Pa.
  close(tFine, 128422.29, 0.005);
  close(temperature, 25.08, 0.005);
  close(bme280Pressure(415148, tFine, CAL), 100653.27, 0.005);
});

test("BME280 double formulas agree with Bosch's integer reference across the range", () => {
  let n = 0;
  for (let adcT = 380000; adcT <= 620000; adcT += 12000) {
    for (let adcP = 250000; adcP <= 450000; adcP += 25000) {
      for (let adcH = 20000; adcH <= 45000; adcH += 5000) {
        const { tFine, temperature } = bme280Temperature(adcT, CAL);
        const ref = refInt(adcT, adcP, adcH, CAL);
        close(temperature, ref.temp, 0.01, "T");
        close(bme280Pressure(adcP, tFine, CAL), ref.pressure, 1.0, "P");
        close(bme280Humidity(adcH, tFine, CAL), ref.humidity, 0.05, "H");
        n++;
      }
    }
  }
  assert.ok(n > 500);
});

test("BME280 trimming registers: little-endian words, H4/H5 nibbles sharing 0xE5, signed bytes", () => {
  const a = new Uint8Array(26);
  const dv = new DataView(a.buffer);
  const words = [CAL.T1, CAL.T2, CAL.T3, CAL.P1, CAL.P2, CAL.P3, CAL.P4, CAL.P5, CAL.P6, CAL.P7, CAL.P8, CAL.P9];
  words.forEach((w, i) => dv.setUint16(i * 2, w & 0xffff, true));
  a[25] = CAL.H1;
  const H4 = -300, H5 = -37; // negative 12-bit values exercise the sign handling
  const e = Uint8Array.of(CAL.H2 & 0xff, CAL.H2 >> 8, CAL.H3, (H4 >> 4) & 0xff, (H4 & 0x0f) | ((H5 & 0x0f) << 4), (H5 >> 4) & 0xff, -7 & 0xff);
  assert.deepStrictEqual(parseBme280Calibration(a, e), { ...CAL, H4, H5, H6: -7 });
  assert.deepStrictEqual(parseBme280Raw(Uint8Array.of(0x65, 0x5a, 0xc0, 0x7e, 0xed, 0x00, 0x6c, 0x9a)), { adcP: 0x655ac, adcT: 0x7eed0, adcH: 0x6c9a });
  assert.equal(parseBme280Raw(Uint8Array.of(0x65, 0x5a, 0xc0, 0x7e, 0xed, 0x00, 0x6c, 0x9a)).adcT, 519888);
  assert.throws(() => parseBme280Calibration(a.subarray(1), e), code("short-read"));
});

test("BME280: skipped channels and impossible values are SensorErrors", () => {
  const ok = bme280Compensate({ adcT: 519888, adcP: 415148, adcH: 30000 }, CAL);
  close(ok.temperature, 25.08, 0.01);
  close(ok.pressure, 100653.27, 0.01);
  assert.ok(ok.humidity > 0 && ok.humidity < 100);
  assert.throws(() => bme280Compensate({ adcT: 0x80000, adcP: 415148, adcH: 30000 }, CAL), code("no-data", /temperature/));
  assert.throws(() => bme280Compensate({ adcT: 519888, adcP: 0x80000, adcH: 30000 }, CAL), code("no-data", /pressure/));
  assert.throws(() => bme280Compensate({ adcT: 519888, adcP: 415148, adcH: 0x8000 }, CAL), code("no-data", /humidity/));
  assert.throws(() => bme280Compensate({ adcT: 0xfffff, adcP: 415148, adcH: 30000 }, CAL), code("out-of-range", /temperature/));
  assert.throws(() => bme280Compensate({ adcT: 519888, adcP: 0, adcH: 30000 }, CAL), code("out-of-range", /pressure/));
  assert.throws(() => bme280Pressure(415148, 128422, { ...CAL, P1: 0 }), code("config"));
  // Datasheet appendix B: x1/x1/x1 forced mode takes at most 9.3 ms.
  close(bme280MaxMeasureMs(1, 1, 1), 9.3, 1e-9);
  close(bme280MaxMeasureMs(5, 5, 5), 112.8, 1e-9);
});

const B3950 = { beta: { r0: 10000, beta: 3950 } };

test("NTC Beta equation: 10k B3950 is 10 kΩ at 25 °C; inverse round trip; known points", () => {
  close(betaTemperature(10000, B3950.beta), 25, 1e-12);
  close(betaResistance(25, B3950.beta), 10000, 1e-9);
  // R(T) = R0 exp(B (1/T - 1/T0)): 0 °C -> 33.62 kΩ, 100 °C -> 697.5 Ω for B = 3950.
  close(betaResistance(0, B3950.beta), 33620, 5);
  close(betaResistance(100, B3950.beta), 697.5, 0.5);
  for (let c = -40; c <= 125; c += 5) close(betaTemperature(betaResistance(c, B3950.beta), B3950.beta), c, 1e-9);
  close(betaTemperature(10000, { r0: 10000, beta: 3950, t0C: 20 }), 20, 1e-12);
});

test("NTC Steinhart-Hart: fitted through three points reproduces them and stays near Beta between", () => {
  const pts: [number, number][] = [0, 25, 85].map((c) => [c, betaResistance(c, B3950.beta)]);
  const sh = steinhartHartFromPoints(pts[0], pts[1], pts[2]);
  for (const [c, r] of pts) close(steinhartHartTemperature(r, sh), c, 1e-6);
  close(steinhartHartTemperature(10000, sh), 25, 1e-6);
  // A classic published 10k NTC set (A, B, C) gives about 25 °C near 10 kΩ.
  close(steinhartHartTemperature(10000, { a: 1.009249522e-3, b: 2.378405444e-4, c: 2.019202697e-7 }), 24.68, 0.05);
  assert.throws(() => steinhartHartFromPoints([25, 10000], [25, 10000], [50, 4000]), code("config"));
});

test("NTC divider: both topologies, open and short circuit at the rails", () => {
  const low = { topology: "ntc-to-ground" as const, fixedOhms: 10000, supplyMv: 3300 };
  const high = { topology: "ntc-to-supply" as const, fixedOhms: 10000, supplyMv: 3300 };
  close(ntcResistance(1650, low), 10000, 1e-9);
  close(ntcResistance(1650, high), 10000, 1e-9);
  // 33.62k NTC (0 °C) to ground with 10k on top: Vout = 3300 * 33620 / 43620.
  close(ntcResistance((3300 * 33620) / 43620, low), 33620, 1e-6);
  close(ntcResistance((3300 * 10000) / 43620, high), 33620, 1e-6);
  assert.throws(() => ntcResistance(3299, low), code("open-circuit"));
  assert.throws(() => ntcResistance(2, low), code("short-circuit"));
  assert.throws(() => ntcResistance(0, high), code("open-circuit"));
  assert.throws(() => ntcResistance(3300, high), code("short-circuit"));
  assert.throws(() => ntcResistance(NaN, high), code("out-of-range"));
  assert.throws(() => ntcResistance(1000, { ...low, fixedOhms: 0 }), code("config"));
  assert.throws(() => checkTemperature(130), code("out-of-range"));
  assert.equal(checkTemperature(20), 20);
});

test("battery divider: scaling and physical range", () => {
  const d = { topOhms: 1_000_000, bottomOhms: 1_000_000, minMv: 2000, maxMv: 3700 };
  close(batteryMillivolts(1600, d), 3200, 1e-9);
  assert.throws(() => batteryMillivolts(50, d), code("out-of-range", /battery 100 mV outside 2000..3700/));
  assert.throws(() => batteryMillivolts(2000, d), code("out-of-range"));
  assert.throws(() => batteryMillivolts(1600, { ...d, bottomOhms: 0 }), code("config"));
});

const CAL11: AdcCalibration = { attenuationDb: 11, points: [[0, 142], [1000, 930], [3000, 2520], [4000, 3150]] };

test("ADC calibration: piecewise-linear interpolation, bounds, validation of board data", () => {
  assert.equal(rawToMillivolts(CAL11, 0), 142);
  assert.equal(rawToMillivolts(CAL11, 1000), 930);
  close(rawToMillivolts(CAL11, 500), 536, 1e-9);
  close(rawToMillivolts(CAL11, 2000), 1725, 1e-9);
  close(rawToMillivolts(CAL11, 3500.5), 2835.315, 1e-9);
  assert.throws(() => rawToMillivolts(CAL11, 4001), code("out-of-range", /4001 outside the calibrated range 0..4000/));
  assert.throws(() => rawToMillivolts(CAL11, -1), code("out-of-range"));
  assert.throws(() => rawToMillivolts(CAL11, NaN), code("out-of-range"));
  assert.equal(validateCalibration(JSON.parse(JSON.stringify(CAL11))).attenuationDb, 11);
  for (const bad of [null, {}, { attenuationDb: 3, points: CAL11.points }, { attenuationDb: 11, points: [[0, 1]] },
    { attenuationDb: 11, points: [[0, 1], [0, 2]] }, { attenuationDb: 11, points: [[0, 10], [5, 9]] },
    { attenuationDb: 11, points: [[0, 1], [1.5, 2]] }, { attenuationDb: 11, points: [[0, 1], [1, 2, 3]] },
    { attenuationDb: 11, points: Array.from({ length: 65 }, (_, i) => [i, i]) }]) {
    assert.throws(() => validateCalibration(bad), code("config"), JSON.stringify(bad));
  }
});

test("oversampling filters reject outliers", () => {
  assert.equal(median([5, 1, 100, 2, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(trimmedMean([1000, 10, 11, 12, 13, 0, 11, 12], 8, 0.25), 11.5);
  assert.equal(reduceSamples([1, 2, 3, 10], 4, "mean"), 4);
  const buf = new Float64Array([9, 9, 1, 2, 3]);
  assert.equal(median(buf, 3), 9); // only the first `count` samples
  assert.throws(() => median([], 0), code("config"));
  assert.throws(() => trimmedMean([1], 1, 0.5), code("config"));
});

test("wake sources -> deep sleep options (ext0 / ext1)", () => {
  assert.deepStrictEqual(wakeOptions([{ pin: 33, level: 0 }], 900e6), { us: 900e6, ext0: { pin: 33, level: 0 } });
  assert.deepStrictEqual(wakeOptions([{ pin: 32, level: 1 }, { pin: 39, level: 1 }]), { ext1: { pins: [32, 39], mode: "any-high" } });
  assert.deepStrictEqual(wakeOptions([{ pin: 32, level: 0 }, { pin: 33, level: 0 }]), { ext1: { pins: [32, 33], mode: "all-low" } });
  assert.deepStrictEqual(wakeOptions([], 1000), { us: 1000 });
  assert.throws(() => wakeOptions([{ pin: 5, level: 1 }]), code("config", /GPIO 5 is not an RTC GPIO/));
  assert.throws(() => wakeOptions([{ pin: 32, level: 1 }, { pin: 33, level: 0 }]), code("config", /same level/));
  assert.throws(() => wakeOptions([{ pin: 32, level: 1 }, { pin: 32, level: 1 }]), code("config", /twice/));
  assert.throws(() => wakeOptions([], 0), code("config"));
});
