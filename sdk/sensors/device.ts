// The only sensors file that imports device modules: it opens real ECMA-419
// I/O and hands it to the drivers. Everything else in sdk/sensors takes the
// I/O object as an argument, so Node tests pass fakes and never load this file.
import Analog from "embedded:io/analog";
import Digital from "embedded:io/digital";
import I2C from "embedded:io/i2c";
import type { AdcCalibration } from "./calibration";
import { AdcInput, type AdcInputOptions } from "./adc";
import { Sht3x, SHT3X_ADDRESS, type Sht3xOptions } from "./sht3x";
import { Bme280, BME280_ADDRESS, type Bme280Options } from "./bme280";
import { DebouncedInput, type DebouncedInputOptions } from "./debounce";
import { deviceTimers } from "../timer/timers";
import type { AnalogLike } from "./adc";

/** The timers the drivers get on the device: Moddable's `timer` module. */
export const systemTimers = deviceTimers;

// Moddable's esp32 Analog and I2C have close() (modules/io/analog/esp32/_analog.js,
// modules/io/i2c/esp32/_i2c.js) although their typings ($MODDABLE/typings/embedded_io/
// analog.d.ts, i2c.d.ts) leave it out; every ECMA-419 I/O class has it.
type Closable<T> = T & { close(): void };

export function openAdc(pin: number, calibration: AdcCalibration, options?: Omit<AdcInputOptions, "analog" | "calibration">): AdcInput {
  // esp32 options as modules/io/analog/esp32/_analog.c reads them: attenuation in dB
  // (0, 2.5, 6, 12; ESP-IDF's 11 dB was renamed 12 dB, same setting) and raw
  // readings (calibrated: false), because the board's own curve converts them.
  // Not in the typing: passed as a variable, not a literal, so tsc accepts it.
  const config = { pin, esp32: { attenuation: calibration.attenuationDb === 11 ? 12 : calibration.attenuationDb, calibrated: false } };
  const analog = new Analog(config) as Closable<Analog>;
  return new AdcInput({ ...options, calibration, analog: analog as AnalogLike });
}

export interface I2CBus {
  data: number;
  clock: number;
  /** Default 100 kHz. */
  hz?: number;
  port?: number;
}

export function openSht3x(bus: I2CBus, options?: Omit<Sht3xOptions, "i2c" | "setTimeout"> & { address?: number }): Sht3x {
  const i2c: Closable<I2C> = new I2C({ data: bus.data, clock: bus.clock, hz: bus.hz ?? 100000, port: bus.port, address: options?.address ?? SHT3X_ADDRESS }) as Closable<I2C>;
  return new Sht3x({ ...options, i2c, setTimeout: systemTimers.setTimeout });
}

export function openBme280(bus: I2CBus, options?: Omit<Bme280Options, "i2c" | "setTimeout"> & { address?: number }): Bme280 {
  const i2c: Closable<I2C> = new I2C({ data: bus.data, clock: bus.clock, hz: bus.hz ?? 100000, port: bus.port, address: options?.address ?? BME280_ADDRESS }) as Closable<I2C>;
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
