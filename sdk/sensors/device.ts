// The only sensors file that imports device modules: it opens real ECMA-419
// I/O and hands it to the drivers. Everything else in sdk/sensors takes the
// I/O object as an argument, so Node tests pass fakes and never load this file.
import Analog from "embedded:io/analog";
import Digital from "embedded:io/digital";
import I2C from "embedded:io/i2c";
import System from "embedded:io/system";
import type { AdcCalibration } from "./calibration";
import { AdcInput, type AdcInputOptions } from "./adc";
import { Sht3x, SHT3X_ADDRESS, type Sht3xOptions } from "./sht3x";
import { Bme280, BME280_ADDRESS, type Bme280Options } from "./bme280";
import { DebouncedInput, type DebouncedInputOptions, type TimerLike } from "./debounce";

export const systemTimers: TimerLike = {
  setTimeout: (callback, ms) => System.setTimeout(callback, ms),
  clearTimeout: (id) => System.clearTimeout(id),
};

export function openAdc(pin: number, calibration: AdcCalibration, options?: Omit<AdcInputOptions, "analog" | "calibration">): AdcInput {
  return new AdcInput({ ...options, calibration, analog: new Analog({ pin, attenuation: calibration.attenuationDb }) });
}

export interface I2CBus {
  data: number;
  clock: number;
  /** Default 100 kHz. */
  hz?: number;
  port?: number;
}

export function openSht3x(bus: I2CBus, options?: Omit<Sht3xOptions, "i2c" | "setTimeout"> & { address?: number }): Sht3x {
  const i2c = new I2C({ data: bus.data, clock: bus.clock, hz: bus.hz ?? 100000, port: bus.port, address: options?.address ?? SHT3X_ADDRESS });
  return new Sht3x({ ...options, i2c, setTimeout: systemTimers.setTimeout });
}

export function openBme280(bus: I2CBus, options?: Omit<Bme280Options, "i2c" | "setTimeout"> & { address?: number }): Bme280 {
  const i2c = new I2C({ data: bus.data, clock: bus.clock, hz: bus.hz ?? 100000, port: bus.port, address: options?.address ?? BME280_ADDRESS });
  try {
    return new Bme280({ ...options, i2c, setTimeout: systemTimers.setTimeout });
  } catch (e) {
    i2c.close();
    throw e;
  }
}

export function openDebouncedInput(options: Omit<DebouncedInputOptions, "Digital" | "timers">): DebouncedInput {
  return new DebouncedInput({ ...options, Digital, timers: systemTimers });
}
