import { SensorError } from "./error";

/** What the drivers need of an `embedded:io/i2c` instance (inject a fake in tests). */
export interface I2CLike {
  read(byteLength: number, stop?: boolean): ArrayBuffer;
  write(buffer: Uint8Array, stop?: boolean): void;
  close(): void;
}

/** Writes bytes; a throwing device (missing, NACK) becomes SensorError("nack"). */
export function i2cWrite(dev: I2CLike, bytes: Uint8Array, what: string, stop = true): void {
  try {
    dev.write(bytes, stop);
  } catch (e) {
    throw new SensorError("nack", `${what}: I2C write not acknowledged (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Reads exactly n bytes; NACK -> SensorError("nack"), fewer bytes -> "short-read". */
export function i2cRead(dev: I2CLike, n: number, what: string): Uint8Array {
  let buf: ArrayBuffer;
  try {
    buf = dev.read(n);
  } catch (e) {
    throw new SensorError("nack", `${what}: I2C read not acknowledged (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!(buf instanceof ArrayBuffer) || buf.byteLength !== n) {
    throw new SensorError("short-read", `${what}: expected ${n} bytes, got ${buf instanceof ArrayBuffer ? buf.byteLength : "none"}`);
  }
  return new Uint8Array(buf);
}

/**
 * Register read: write the register address without stop, then read n bytes.
 * (Moddable 8.2.3's esp32 I2C wrapper, modules/io/i2c/_i2c.js, passes only the
 * buffer or count to the native, so the stop flag has no effect there: the chip
 * sees a stop, then a start. SHT3x and BME280 accept both.)
 */
export function i2cReadRegister(dev: I2CLike, reg: number, n: number, what: string): Uint8Array {
  i2cWrite(dev, Uint8Array.of(reg), what, false);
  return i2cRead(dev, n, what);
}
