// Drivers over small fake I/O objects: register-level I2C fakes, an ADC fake, a GPIO fake with a fake clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Sht3x } from "../../sdk/sensors/sht3x.ts";
import { Bme280 } from "../../sdk/sensors/bme280.ts";
import { AdcInput, NtcSensor, BatterySensor, type AnalogLike } from "../../sdk/sensors/adc.ts";
import { DebouncedInput, type DigitalClass, type TimerLike } from "../../sdk/sensors/debounce.ts";
import { betaResistance } from "../../sdk/sensors/thermistor.ts";
import { crc8 } from "../../sdk/sensors/crc8.ts";
import { SensorError } from "../../sdk/sensors/error.ts";
import type { I2CLike } from "../../sdk/sensors/i2c.ts";

const code = (c: string, re?: RegExp) => (e: unknown) => e instanceof SensorError && e.code === c && (!re || re.test(e.message));

class Nack extends Error {}

/** SHT3x fake: answers 6 bytes after a single-shot command; NACKs otherwise. */
class FakeSht implements I2CLike {
  log: string[] = [];
  pending = false;
  present = true;
  corrupt = false;
  constructor(public st: number, public srh: number) {}
  write(buffer: ArrayBuffer | ArrayBufferView) {
    if (!this.present) throw new Nack("NACK");
    const b = new Uint8Array(buffer instanceof ArrayBuffer ? buffer : buffer.buffer);
    this.log.push("w" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(""));
    this.pending = true;
  }
  read(n: number): ArrayBuffer {
    if (!this.present || !this.pending) throw new Nack("NACK");
    this.pending = false;
    const f = Uint8Array.of(this.st >> 8, this.st & 0xff, 0, this.srh >> 8, this.srh & 0xff, 0);
    f[2] = crc8(f, 0, 2);
    f[5] = crc8(f, 3, 5) ^ (this.corrupt ? 1 : 0);
    return f.buffer.slice(0, n);
  }
  close() { this.log.push("close"); }
}

test("SHT3x driver: command 0x2400, wait, read, convert", async () => {
  const dev = new FakeSht(0x6666, 0x8000);
  const waits: number[] = [];
  const sht = new Sht3x({ i2c: dev, setTimeout: (cb, ms) => { waits.push(ms); queueMicrotask(cb); } });
  const r = await sht.measure();
  assert.deepStrictEqual(dev.log, ["w2400"]);
  assert.deepStrictEqual(waits, [16]);
  assert.ok(Math.abs(r.temperature - 25) < 0.001 && Math.abs(r.humidity - 50) < 0.01);
  const low = new Sht3x({ i2c: dev, repeatability: "low" });
  assert.equal(low.trigger(), 5);
  assert.deepStrictEqual(dev.log.at(-1), "w2416");
  low.collect();
});

test("SHT3x driver: missing device, read before trigger, bad CRC", async () => {
  const dev = new FakeSht(0x6666, 0x8000);
  dev.present = false;
  const sht = new Sht3x({ i2c: dev, setTimeout: (cb) => queueMicrotask(cb) });
  await assert.rejects(sht.measure(), code("nack", /SHT3x measure: I2C write not acknowledged \(NACK\)/));
  dev.present = true;
  assert.throws(() => sht.collect(), code("nack", /SHT3x result: I2C read/));
  dev.corrupt = true;
  await assert.rejects(sht.measure(), code("crc"));
  await assert.rejects(new Sht3x({ i2c: dev }).measure(), code("config"));
  assert.throws(() => new Sht3x({ i2c: dev, repeatability: "ultra" as "high" }), code("config"));
});

/** BME280 register-file fake: register pointer writes, register writes, auto-increment reads. */
class FakeBme implements I2CLike {
  regs = new Uint8Array(256);
  ptr = 0;
  present = true;
  nackAt = -1;
  writes: number[][] = [];
  constructor() {
    this.regs[0xd0] = 0x60;
    const cal = [27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000];
    cal.forEach((w, i) => { this.regs[0x88 + 2 * i] = w & 0xff; this.regs[0x89 + 2 * i] = (w >> 8) & 0xff; });
    this.regs[0xa1] = 75;
    this.regs.set([362 & 0xff, 362 >> 8, 0, 313 >> 4, (313 & 0x0f) | ((50 & 0x0f) << 4), 50 >> 4, 30], 0xe1);
    // adc_P 415148, adc_T 519888, adc_H 30000
    this.regs.set([415148 >> 12, (415148 >> 4) & 0xff, (415148 & 0x0f) << 4, 519888 >> 12, (519888 >> 4) & 0xff, (519888 & 0x0f) << 4, 30000 >> 8, 30000 & 0xff], 0xf7);
  }
  write(buffer: ArrayBuffer | ArrayBufferView) {
    const b = Array.from(new Uint8Array(buffer instanceof ArrayBuffer ? buffer : buffer.buffer));
    if (!this.present || b[0] === this.nackAt) throw new Nack("I2C NACK");
    this.ptr = b[0];
    if (b.length > 1) { this.writes.push(b); this.regs[b[0]] = b[1]; }
  }
  read(n: number): ArrayBuffer {
    if (!this.present) throw new Nack("I2C NACK");
    const out = this.regs.slice(this.ptr, this.ptr + n);
    this.ptr += n;
    return out.buffer;
  }
  close() {}
}

test("BME280 driver: chip id, trimming, forced mode, compensation", async () => {
  const dev = new FakeBme();
  const bme = new Bme280({ i2c: dev, osrsT: 1, osrsP: 1, osrsH: 1, setTimeout: (cb, ms) => { assert.equal(ms, 10); queueMicrotask(cb); } });
  assert.equal(bme.calibration.T1, 27504);
  assert.equal(bme.calibration.H4, 313);
  assert.equal(bme.calibration.H5, 50);
  const r = await bme.measure();
  assert.deepStrictEqual(dev.writes, [[0xf2, 0x01], [0xf4, 0b00100101]]);
  assert.ok(Math.abs(r.temperature - 25.08) < 0.005);
  assert.ok(Math.abs(r.pressure - 100653.27) < 0.005);
  assert.ok(r.humidity > 0 && r.humidity < 100);
  dev.regs[0xf3] = 0x08; // still measuring
  assert.throws(() => bme.collect(), code("no-data", /still running/));
});

test("BME280 driver: wrong chip, missing device, NACK mid-way, skipped channel", () => {
  const bmp = new FakeBme();
  bmp.regs[0xd0] = 0x58;
  assert.throws(() => new Bme280({ i2c: bmp }), code("chip-id", /0x58, expected 0x60/));
  const gone = new FakeBme();
  gone.present = false;
  assert.throws(() => new Bme280({ i2c: gone }), code("nack", /BME280 chip id: I2C write not acknowledged/));
  const flaky = new FakeBme();
  flaky.nackAt = 0xe1;
  assert.throws(() => new Bme280({ i2c: flaky }), code("nack", /BME280 calibration/));
  const dev = new FakeBme();
  const bme = new Bme280({ i2c: dev });
  dev.regs.set([0x80, 0x00, 0x00], 0xf7); // pressure skipped
  assert.throws(() => bme.collect(), code("no-data", /pressure/));
  dev.nackAt = 0xf4;
  assert.throws(() => bme.trigger(), code("nack", /ctrl_meas/));
  assert.throws(() => new Bme280({ i2c: new FakeBme(), osrsT: 6 as 5 }), code("config"));
});

class FakeAnalog implements AnalogLike {
  readonly resolution = 12;
  i = 0;
  closed = false;
  constructor(public samples: number[]) {}
  read() { return this.samples[this.i++ % this.samples.length]; }
  close() { this.closed = true; }
}

const CAL = { attenuationDb: 11 as const, points: [[0, 0], [4000, 3200]] as [number, number][] };

test("ADC input: oversampling with outlier rejection, calibration, saturation", () => {
  const spikes = new FakeAnalog([2000, 2001, 1999, 4095, 2000, 0, 2002, 1998]);
  const median = new AdcInput({ analog: spikes, calibration: CAL, samples: 8 });
  assert.equal(median.readRaw(), 2000);
  assert.equal(median.readMillivolts(), 1600);
  const trimmed = new AdcInput({ analog: spikes, calibration: CAL, samples: 8, filter: "trimmed-mean", trim: 0.25 });
  assert.equal(trimmed.readRaw(), 2000);
  const mean = new AdcInput({ analog: spikes, calibration: CAL, samples: 8, filter: "mean" });
  assert.ok(Math.abs(mean.readRaw() - 2011.875) < 1e-9); // the spikes pull a plain mean
  assert.throws(() => new AdcInput({ analog: new FakeAnalog([4095]), calibration: CAL, samples: 4 }).readRaw(), code("saturated"));
  assert.throws(() => new AdcInput({ analog: new FakeAnalog([4050]), calibration: CAL }).readMillivolts(), code("out-of-range", /calibrated range/));
  assert.throws(() => new AdcInput({ analog: new FakeAnalog([-3]), calibration: CAL }).readRaw(), code("out-of-range"));
  assert.throws(() => new AdcInput({ analog: spikes, calibration: CAL, samples: 0 }), code("config"));
  assert.throws(() => new AdcInput({ analog: spikes, calibration: { attenuationDb: 11, points: [] } }), code("config"));
  median.close();
  assert.ok(spikes.closed);
});

test("NTC and battery sensors over the ADC: temperature, open/short circuit, battery range", () => {
  const divider = { topology: "ntc-to-ground" as const, fixedOhms: 10000, supplyMv: 3200 };
  const rawFor = (ohms: number) => Math.round(((3200 * ohms) / (ohms + 10000)) * (4000 / 3200));
  const analog = new FakeAnalog([rawFor(10000)]);
  const ntc = new NtcSensor({ input: new AdcInput({ analog, calibration: CAL, samples: 4 }), divider, model: { beta: { r0: 10000, beta: 3950 } } });
  assert.ok(Math.abs(ntc.read() - 25) < 0.01);
  analog.samples = [rawFor(betaResistance(-10, { r0: 10000, beta: 3950 }))];
  assert.ok(Math.abs(ntc.read() - -10) < 0.05);
  analog.samples = [3999]; // NTC to ground disconnected: the pin sits at the supply
  assert.throws(() => ntc.read(), code("open-circuit"));
  analog.samples = [1];
  assert.throws(() => ntc.read(), code("short-circuit"));
  analog.samples = [rawFor(betaResistance(150, { r0: 10000, beta: 3950 }))];
  assert.throws(() => ntc.read(), code("out-of-range", /outside -40..125/));
  assert.throws(() => new NtcSensor({ input: new AdcInput({ analog, calibration: CAL }), divider, model: {} as { beta: never } }), code("config"));

  const bat = new FakeAnalog([2000]);
  const battery = new BatterySensor(new AdcInput({ analog: bat, calibration: CAL, samples: 2 }), { topOhms: 100000, bottomOhms: 100000, minMv: 2000, maxMv: 3700 });
  assert.equal(battery.read(), 3200);
  bat.samples = [10];
  assert.throws(() => battery.read(), code("out-of-range"));
});

/** Fake clock + GPIO: `set(level, at)` schedules a line change; `advance(ms)` runs time. */
function gpioWorld() {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; cb: () => void }>();
  const timerApi: TimerLike = {
    setTimeout(cb, ms) { const id = nextId++; timers.set(id, { at: now + ms, cb }); return id; },
    clearTimeout(id) { if (id !== undefined && id !== null) timers.delete(id as number); },
  };
  const world = {
    level: 0,
    opened: [] as { pin: number; mode: number; edge?: number }[],
    onReadable: undefined as undefined | (() => void),
    closed: false,
    get pendingTimers() { return timers.size; },
    set(level: number) {
      if (level === world.level) return;
      world.level = level;
      world.onReadable?.();
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        let first: [number, { at: number; cb: () => void }] | undefined;
        for (const e of timers) if (e[1].at <= end && (!first || e[1].at < first[1].at)) first = e;
        if (!first) break;
        timers.delete(first[0]);
        now = first[1].at;
        first[1].cb();
      }
      now = end;
    },
  };
  const Digital = class {
    static Input = 1; static InputPullUp = 2; static InputPullDown = 3; static Rising = 4; static Falling = 8;
    constructor(o: { pin: number; mode: number; edge?: number; onReadable?: () => void }) {
      world.opened.push({ pin: o.pin, mode: o.mode, edge: o.edge });
      world.onReadable = o.onReadable;
    }
    read() { return world.level; }
    close() { world.closed = true; }
  } satisfies DigitalClass;
  return { world, Digital, timers: timerApi };
}

test("debounced input: bounces collapse to one edge after the quiet time", () => {
  const { world, Digital, timers } = gpioWorld();
  world.level = 1;
  const edges: string[] = [];
  const input = new DebouncedInput({ Digital, timers, pin: 33, pull: "up", debounceMs: 20, onEdge: (l, e) => edges.push(`${e}:${l}`), wakeLevel: 0 });
  assert.deepStrictEqual(world.opened, [{ pin: 33, mode: 2, edge: 12 }]);
  assert.equal(input.level, 1);
  // A press with contact bounce: 1->0->1->0 within 6 ms, then steady low.
  world.set(0); world.advance(2); world.set(1); world.advance(2); world.set(0);
  assert.deepStrictEqual(edges, []);
  world.advance(19);
  assert.deepStrictEqual(edges, []); // 19 ms since the last bounce: not yet
  world.advance(1);
  assert.deepStrictEqual(edges, ["falling:0"]);
  assert.equal(input.level, 0);
  // A glitch shorter than the debounce time that returns to the stable level is no edge.
  world.set(1); world.advance(5); world.set(0); world.advance(50);
  assert.deepStrictEqual(edges, ["falling:0"]);
  world.set(1); world.advance(25);
  assert.deepStrictEqual(edges, ["falling:0", "rising:1"]);
  assert.deepStrictEqual(input.wakeSource, { pin: 33, level: 0 });
  world.set(0);
  input.close();
  assert.equal(world.pendingTimers, 0);
  world.advance(100);
  assert.deepStrictEqual(edges, ["falling:0", "rising:1"]);
  assert.ok(world.closed);
});

test("debounced input: edge filter, options validation", () => {
  const { world, Digital, timers } = gpioWorld();
  const edges: string[] = [];
  const input = new DebouncedInput({ Digital, timers, pin: 39, edges: "rising", debounceMs: 10, onEdge: (_l, e) => edges.push(e) });
  world.set(1); world.advance(10); world.set(0); world.advance(10); world.set(1); world.advance(10);
  assert.deepStrictEqual(edges, ["rising", "rising"]);
  assert.equal(input.wakeSource, undefined);
  assert.throws(() => new DebouncedInput({ Digital, timers, pin: 36, pull: "up" }), code("config", /input-only/));
  assert.throws(() => new DebouncedInput({ Digital, timers, pin: 40 }), code("config"));
  assert.throws(() => new DebouncedInput({ Digital, timers, pin: 4, debounceMs: -1 }), code("config"));
});
