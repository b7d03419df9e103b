import { SensorError } from "./error";
import { measureAfter } from "./measure";
import { type I2CLike, i2cRead, i2cWrite } from "./i2c";
import { SHT3X_SINGLE_SHOT, sht3xConvert, type Sht3xReading, type Sht3xRepeatability } from "./sht3x-convert";

export const SHT3X_ADDRESS = 0x44; // ADDR pin low; 0x45 when high

export interface Sht3xOptions {
  /** An open I2C device at the sensor's address, e.g. `new I2C({ data, clock, hz, address: 0x44 })`. */
  i2c: I2CLike;
  repeatability?: Sht3xRepeatability;
  /** Timer for measure(): deviceTimers.setTimeout (xsiot/timer/timers) on the device, a fake in tests. */
  setTimeout?: (callback: () => void, ms: number) => unknown;
}

/**
 * Sensirion SHT3x, single shot without clock stretching: trigger() sends the
 * command and returns how long to wait; collect() reads and converts. Reading
 * too early makes the sensor NACK, which is a SensorError("nack") like a
 * missing device.
 */
export class Sht3x {
  private readonly i2c: I2CLike;
  private readonly mode: (typeof SHT3X_SINGLE_SHOT)[Sht3xRepeatability];
  private readonly timeout?: (callback: () => void, ms: number) => unknown;

  constructor(o: Sht3xOptions) {
    this.i2c = o.i2c;
    const r = o.repeatability ?? "high";
    if (!(r in SHT3X_SINGLE_SHOT)) throw new SensorError("config", `SHT3x: repeatability ${String(r)} must be high, medium or low`);
    this.mode = SHT3X_SINGLE_SHOT[r];
    this.timeout = o.setTimeout;
  }

  /** Starts a measurement; returns the milliseconds to wait before collect(). */
  trigger(): number {
    const c = this.mode.command;
    i2cWrite(this.i2c, Uint8Array.of(c >> 8, c & 0xff), "SHT3x measure");
    return this.mode.maxMs + 1;
  }

  collect(): Sht3xReading {
    return sht3xConvert(i2cRead(this.i2c, 6, "SHT3x result"));
  }

  /** trigger(), wait, collect(). Needs the setTimeout option. */
  measure(): Promise<Sht3xReading> {
    return measureAfter("SHT3x", this.timeout, () => this.trigger(), () => this.collect());
  }

  close(): void {
    this.i2c.close();
  }
}
