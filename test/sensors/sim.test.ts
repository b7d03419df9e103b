// The sensor drivers run on the XS engine against the virtual ESP32's scripted
// inputs: the values read back are the values the scenario set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildApp } from "../../tools/sim/image.ts";
import { parseScenario } from "../../tools/sim/scenario.ts";
import { simulate } from "../sim/helpers.ts";

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
  assert.match(first.missing, /nack|acknowledge/i);
  assert.deepEqual(second.edges, ["rising:1", "falling:0"], "the bounce is debounced into one opening and one closing");
});
