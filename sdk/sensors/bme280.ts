import { SensorError } from "./error";
import { measureAfter } from "./measure";
import { type I2CLike, i2cReadRegister, i2cWrite } from "./i2c";
import {
  type Bme280Calibration,
  type Bme280Reading,
  bme280Compensate,
  bme280MaxMeasureMs,
  parseBme280Calibration,
  parseBme280Raw,
} from "./bme280-compensate";

export const BME280_ADDRESS = 0x76; // SDO low; 0x77 when high
export const BME280_CHIP_ID = 0x60;

const REG_CALIB_A = 0x88; // 26 bytes, 0x88..0xA1
const REG_ID = 0xd0;
const REG_CALIB_E = 0xe1; // 7 bytes, 0xE1..0xE7
const REG_CTRL_HUM = 0xf2;
const REG_STATUS = 0xf3;
const REG_CTRL_MEAS = 0xf4;
const REG_DATA = 0xf7; // 8 bytes, 0xF7..0xFE

/** Oversampling: 1..5 = x1, x2, x4, x8, x16. */
export type Bme280Oversampling = 1 | 2 | 3 | 4 | 5;

export interface Bme280Options {
  /** An open I2C device at the sensor's address, e.g. `new I2C({ data, clock, hz, address: 0x76 })`. */
  i2c: I2CLike;
  osrsT?: Bme280Oversampling;
  osrsP?: Bme280Oversampling;
  osrsH?: Bme280Oversampling;
  setTimeout?: (callback: () => void, ms: number) => unknown;
}

/**
 * Bosch BME280 in forced mode. The constructor checks the chip id (0x60) and
 * reads the trimming parameters once. trigger() starts one measurement and
 * returns the ms to wait; collect() reads and compensates.
 */
export class Bme280 {
  readonly calibration: Bme280Calibration;
  private readonly i2c: I2CLike;
  private readonly osrs: [number, number, number];
  private readonly timeout?: (callback: () => void, ms: number) => unknown;

  constructor(o: Bme280Options) {
    this.i2c = o.i2c;
    this.timeout = o.setTimeout;
    this.osrs = [o.osrsT ?? 1, o.osrsP ?? 1, o.osrsH ?? 1];
    for (const x of this.osrs) if (!(Number.isInteger(x) && x >= 1 && x <= 5)) throw new SensorError("config", `BME280: oversampling ${x} must be 1..5`);
    const id = i2cReadRegister(this.i2c, REG_ID, 1, "BME280 chip id")[0];
    if (id !== BME280_CHIP_ID) throw new SensorError("chip-id", `BME280: chip id 0x${id.toString(16)}, expected 0x60 (0x58 is a BMP280)`);
    this.calibration = parseBme280Calibration(
      i2cReadRegister(this.i2c, REG_CALIB_A, 26, "BME280 calibration"),
      i2cReadRegister(this.i2c, REG_CALIB_E, 7, "BME280 calibration"),
    );
  }

  /** Starts a forced-mode measurement; returns the milliseconds to wait before collect(). */
  trigger(): number {
    const [t, p, h] = this.osrs;
    // ctrl_hum takes effect only after a write to ctrl_meas (datasheet §5.4.3).
    i2cWrite(this.i2c, Uint8Array.of(REG_CTRL_HUM, h), "BME280 ctrl_hum");
    i2cWrite(this.i2c, Uint8Array.of(REG_CTRL_MEAS, (t << 5) | (p << 2) | 0b01), "BME280 ctrl_meas");
    return Math.ceil(bme280MaxMeasureMs(t, p, h));
  }

  collect(): Bme280Reading {
    const status = i2cReadRegister(this.i2c, REG_STATUS, 1, "BME280 status")[0];
    if (status & 0x08) throw new SensorError("no-data", "BME280: measurement still running");
    return bme280Compensate(parseBme280Raw(i2cReadRegister(this.i2c, REG_DATA, 8, "BME280 data")), this.calibration);
  }

  measure(): Promise<Bme280Reading> {
    return measureAfter("BME280", this.timeout, () => this.trigger(), () => this.collect());
  }

  close(): void {
    this.i2c.close();
  }
}
