// Scenario signals and their errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseScenario, loadScenario, ScenarioError } from "../../tools/sim/scenario.ts";
import { parseDuration } from "../../tools/sim/duration.ts";

const H = 3_600_000;

test("durations: seconds, units and compounds", () => {
  assert.equal(parseDuration(90), 90_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("3h2s"), 3 * H + 2000);
  assert.equal(parseDuration("1d12h"), 36 * H);
  assert.throws(() => parseDuration("soon"), /like "250ms"/);
  assert.throws(() => parseDuration(-1), RangeError);
});

test("constant, ramp, sine, piecewise (step and linear), with deterministic noise", () => {
  const s = parseScenario(
    JSON.stringify({
      adc: {
        "32": 1200,
        "33": { type: "ramp", from: 1000, to: 2000, start: "1h", duration: "2h" },
        "34": { type: "sine", mean: 100, amplitude: 10, period: "4h" },
        "35": { type: "piecewise", points: [["0s", 0], ["1h", 100]], interpolate: "linear" },
        "36": { type: "constant", value: 500, noise: 5 },
      },
      gpio: { "4": { type: "piecewise", points: [["0s", 1], ["30m", 0], ["31m", 1]] } },
    }),
  );
  const adc = (pin: number, t: number) => s.adc.get(pin)!(t);
  assert.equal(adc(32, 5 * H), 1200);
  assert.equal(adc(33, 0), 1000);
  assert.equal(adc(33, 2 * H), 1500);
  assert.equal(adc(33, 9 * H), 2000);
  assert.ok(Math.abs(adc(34, H) - 110) < 1e-9);
  assert.equal(adc(35, H / 2), 50);
  const noisy = [0, 1, 2, 3, 4, 5].map((k) => adc(36, k * 60_000));
  assert.ok(noisy.some((v) => v !== 500) && noisy.every((v) => Math.abs(v - 500) < 40), `noise around 500: ${noisy}`);
  assert.deepEqual(noisy, [0, 1, 2, 3, 4, 5].map((k) => adc(36, k * 60_000)), "same time, same value");
  const door = s.gpio.get(4)!;
  assert.equal(door.level(0), 1);
  assert.equal(door.edges(0, 24 * H), 30 * 60_000);
  assert.equal(door.edges(30 * 60_000, 24 * H), 31 * 60_000);
  assert.equal(door.edges(31 * 60_000, 24 * H), undefined);
});

test("csv signals interpolate between rows; bad rows name their line", () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-csv-"));
  writeFileSync(join(dir, "t.csv"), "seconds,mV\n0,100\n3600,200\n");
  writeFileSync(join(dir, "s.json"), JSON.stringify({ adc: { "36": { type: "csv", file: "t.csv" } } }));
  const s = loadScenario(join(dir, "s.json"));
  assert.equal(s.adc.get(36)!(H / 2), 150);
  assert.equal(s.adc.get(36)!(5 * H), 200);
  writeFileSync(join(dir, "t.csv"), "0,100\n60,oops\n");
  assert.throws(() => loadScenario(join(dir, "s.json")), /t\.csv:2: expected "seconds,value"/);
});

test("errors name the line: unknown type, bad pin, bad I2C device, decreasing points, unknown section", () => {
  const cases: [string, RegExp][] = [
    ['{\n"adc": {\n "36": {"type": "square"}\n}\n}', /:3: unknown signal type "square"/],
    ['{\n"adc": {\n "40": 5\n}\n}', /:3: "40" is not an ESP32 GPIO/],
    ['{\n"i2c": {\n "0x44": {"device": "bmp180"}\n}\n}', /:3: unknown I2C device "bmp180"/],
    ['{"gpio": {"4": {"type": "piecewise", "points": [["2h", 1],\n ["1h", 0]]}}}', /:2: point times must not decrease/],
    ['{\n\n "wifi": {}}', /:3: unknown section "wifi"/],
    ['{"adc": ', /:1: /],
  ];
  for (const [text, re] of cases) assert.throws(() => parseScenario(text, "x.json"), (e: unknown) => e instanceof ScenarioError && re.test((e as Error).message), text);
});
