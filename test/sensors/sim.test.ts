// The sensor drivers run on the XS engine against the virtual ESP32's scripted
// inputs: the values read back are the values the scenario set. The simulated BME280
// makes its raw values by inverting a compensation, so "read back = set" alone would
// pass with any formula used on both sides; its raw registers are therefore also checked
// through Bosch's reference compensation (bosch-reference.ts, from the datasheet), and
// the driver's output against that reference for the same registers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildApp } from "../../tools/sim/image.ts";
import { parseScenario } from "../../tools/sim/scenario.ts";
import { simulate } from "../sim/helpers.ts";
import { Bme280 } from "../../tools/sim/i2c.ts";
import { rawFromRegisters, refInt, trimFromRegisters } from "./bosch-reference.ts";

/** Forced measurement on the simulated part, read as a driver would: trimming and data registers. */
function simulatedRegisters(inputs: { temperature: number; pressure: number; humidity: number }) {
  const dev = new Bme280({ temperature: () => inputs.temperature, pressure: () => inputs.pressure, humidity: () => inputs.humidity }, 0);
  const read = (reg: number, n: number) => (dev.write(Uint8Array.of(reg), 0), dev.read(n, 0));
  assert.equal(read(0xd0, 1)[0], 0x60, "chip id");
  const trim = trimFromRegisters(read(0x88, 26), read(0xe1, 7));
  dev.write(Uint8Array.of(0xf2, 0x01), 0); // ctrl_hum: osrs_h x1
  dev.write(Uint8Array.of(0xf4, 0x25), 0); // ctrl_meas: osrs_t x1, osrs_p x1, forced mode
  assert.equal(read(0xf3, 1)[0] & 0x08, 0x08, "measuring right after the trigger");
  assert.equal(read(0xf3, 1)[0] & 0x08, 0x08);
  return { trim, raw: rawFromRegisters((dev.write(Uint8Array.of(0xf7), 100), dev.read(8, 100))) };
}

test("simulated BME280: its raw registers, through Bosch's reference compensation, give the scenario's values", () => {
  for (const inputs of [
    { temperature: 23.25, pressure: 100_500, humidity: 55 },
    { temperature: -10, pressure: 90_000, humidity: 10 },
    { temperature: 40, pressure: 105_000, humidity: 90 },
  ]) {
    const { trim, raw } = simulatedRegisters(inputs);
    const ref = refInt(raw.adcT, raw.adcP, raw.adcH, trim);
    // The integer reference's own resolution: 0.01 degC, 1/256 Pa, 1/1024 %RH; one raw step
    // is ~0.005 degC, ~0.2 Pa (at these trims), ~0.02 %RH.
    assert.ok(Math.abs(ref.temp - inputs.temperature) <= 0.015, `T ${ref.temp} for ${inputs.temperature}`);
    assert.ok(Math.abs(ref.pressure - inputs.pressure) <= 1.5, `P ${ref.pressure} for ${inputs.pressure}`);
    assert.ok(Math.abs(ref.humidity - inputs.humidity) <= 0.05, `H ${ref.humidity} for ${inputs.humidity}`);
  }
});

test("SHT3x, BME280, thermistor, battery and a bouncing door contact on the virtual ESP32", async () => {
  const scenario = parseScenario(
    JSON.stringify({
      // 1500 mV on the 10k/10k NTC divider from 3.0 V: 25 degC; 1500 mV on the 1M/1M battery divider: 3.0 V.
      adc: { "36": 1500, "39": 1500 },
      // The door opens at 10 s with 20 ms of contact bounce, and closes at 30 s.
      gpio: { "4": { type: "piecewise", points: [["0s", 0], ["10s", 1], ["10010ms", 0], ["10020ms", 1], ["30s", 0]] } },
      i2c: {
        "0x44": { device: "sht3x", temperature: 21.5, humidity: 40 },
        "0x76": { device: "bme280", temperature: 23.25, pressure: 100_500, humidity: 55 },
      },
    }),
  );
  const r = await simulate(buildApp(new URL("./apps/drivers", import.meta.url).pathname), 2 * 60_000, { scenario });
  const [first, second] = r.logs.map((l) => JSON.parse(l));
  assert.equal(first.error, undefined, first.error);
  assert.ok(Math.abs(first.ntc - 25) < 0.6, `thermistor ${first.ntc}`); // the ADC curve quantises ~1 mV
  assert.ok(Math.abs(first.battery - 3000) < 10, `battery ${first.battery}`);
  assert.ok(Math.abs(first.sht.temperature - 21.5) < 0.01 && Math.abs(first.sht.humidity - 40) < 0.01, JSON.stringify(first.sht));
  assert.ok(Math.abs(first.bme.temperature - 23.25) < 0.01, `BME280 temperature ${first.bme.temperature}`);
  assert.ok(Math.abs(first.bme.pressure - 100_500) < 2, `BME280 pressure ${first.bme.pressure}`);
  assert.ok(Math.abs(first.bme.humidity - 55) < 0.1, `BME280 humidity ${first.bme.humidity}`);
  // The driver on XS computes what Bosch's reference computes from the same registers.
  const { trim, raw } = simulatedRegisters({ temperature: 23.25, pressure: 100_500, humidity: 55 });
  const ref = refInt(raw.adcT, raw.adcP, raw.adcH, trim);
  assert.ok(Math.abs(first.bme.temperature - ref.temp) <= 0.01, `driver T ${first.bme.temperature} vs reference ${ref.temp}`);
  assert.ok(Math.abs(first.bme.pressure - ref.pressure) <= 1, `driver P ${first.bme.pressure} vs reference ${ref.pressure}`);
  assert.ok(Math.abs(first.bme.humidity - ref.humidity) <= 0.05, `driver H ${first.bme.humidity} vs reference ${ref.humidity}`);
  assert.match(first.missing, /nack|acknowledge/i);
  assert.deepEqual(second.edges, ["rising:1", "falling:0"], "the bounce is debounced into one opening and one closing");
});
