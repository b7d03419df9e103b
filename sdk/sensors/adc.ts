import { SensorError } from "./error";
import { type AdcCalibration, rawToMillivolts, validateCalibration } from "./calibration";
import { MAX_SAMPLES, reduceSamples, type SampleFilter } from "./oversample";
import { checkTemperature, ntcResistance, betaTemperature, steinhartHartTemperature, type BetaModel, type NtcDivider, type SteinhartHartModel, type TemperatureRange } from "./thermistor";
import { batteryMillivolts, type BatteryDivider } from "./battery";

/** What the drivers need of an `embedded:io/analog` instance (inject a fake in tests). */
export interface AnalogLike {
  read(): number;
  readonly resolution: number;
  close(): void;
}

export interface AdcInputOptions {
  /** An open analog input, e.g. `new Analog({ pin, attenuation })` (see device.ts). */
  analog: AnalogLike;
  calibration: AdcCalibration;
  /** Readings per measurement, 1..256. Default 16. */
  samples?: number;
  /** How samples are reduced. Default "median". */
  filter?: SampleFilter;
  /** Fraction trimmed from each end for "trimmed-mean". Default 0.25. */
  trim?: number;
}

/**
 * An ESP32 ADC channel with a board calibration curve and oversampling.
 * One sample buffer is allocated at construction; reads allocate nothing.
 * A sample at full scale means the input is above the attenuation's range:
 * that is a SensorError ("saturated"), never a number.
 */
export class AdcInput {
  readonly calibration: AdcCalibration;
  private readonly analog: AnalogLike;
  private readonly buf: Float64Array;
  private readonly filter: SampleFilter;
  private readonly trim: number;
  private readonly fullScale: number;

  constructor(o: AdcInputOptions) {
    this.analog = o.analog;
    this.calibration = validateCalibration(o.calibration);
    const n = o.samples ?? 16;
    if (!Number.isInteger(n) || n < 1 || n > MAX_SAMPLES) throw new SensorError("config", `samples must be an integer 1..${MAX_SAMPLES}`);
    this.buf = new Float64Array(n);
    this.filter = o.filter ?? "median";
    this.trim = o.trim ?? 0.25;
    const bits = o.analog.resolution;
    if (!Number.isInteger(bits) || bits < 1 || bits > 16) throw new SensorError("config", `analog resolution ${bits} bits is not supported`);
    this.fullScale = (1 << bits) - 1;
  }

  /** Oversampled, filtered raw reading (may be fractional). */
  readRaw(): number {
    const b = this.buf;
    for (let i = 0; i < b.length; i++) {
      const v = this.analog.read();
      if (!Number.isInteger(v) || v < 0 || v > this.fullScale) throw new SensorError("out-of-range", `ADC returned ${v}, not a ${this.fullScale}-max reading`);
      b[i] = v;
    }
    const raw = reduceSamples(b, b.length, this.filter, this.trim);
    if (raw >= this.fullScale) throw new SensorError("saturated", `ADC at full scale (${this.fullScale}) at ${this.calibration.attenuationDb} dB attenuation`);
    return raw;
  }

  /** Calibrated millivolts at the pin. */
  readMillivolts(): number {
    return rawToMillivolts(this.calibration, this.readRaw());
  }

  close(): void {
    this.analog.close();
  }
}

export interface NtcSensorOptions {
  input: AdcInput;
  divider: NtcDivider;
  /** Either a Beta model or Steinhart-Hart coefficients. */
  model: { beta: BetaModel } | { steinhartHart: SteinhartHartModel };
  /** Rated range; readings outside are SensorError("out-of-range"). Default -40..125 °C. */
  range?: TemperatureRange;
}

/** NTC thermistor on a divider read by an AdcInput. */
export class NtcSensor {
  constructor(private readonly o: NtcSensorOptions) {
    if (!("beta" in o.model) && !("steinhartHart" in o.model)) throw new SensorError("config", "NTC model must be { beta } or { steinhartHart }");
  }

  /** Degrees Celsius; throws SensorError on open/short circuit or out-of-range. */
  read(): number {
    const ohms = ntcResistance(this.o.input.readMillivolts(), this.o.divider);
    const m = this.o.model;
    const c = "beta" in m ? betaTemperature(ohms, m.beta) : steinhartHartTemperature(ohms, m.steinhartHart);
    return checkTemperature(c, this.o.range);
  }
}

/** Battery voltage on a divider read by an AdcInput. */
export class BatterySensor {
  constructor(private readonly input: AdcInput, private readonly divider: BatteryDivider) {}

  /** Battery millivolts; throws SensorError outside divider.minMv..maxMv. */
  read(): number {
    return batteryMillivolts(this.input.readMillivolts(), this.divider);
  }
}
