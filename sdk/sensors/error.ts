/** Why a reading is not a number. */
export type SensorErrorCode =
  | "config" // bad driver options or board data
  | "nack" // I2C device missing or not acknowledging (read/write threw)
  | "short-read" // I2C read returned fewer bytes than asked
  | "crc" // checksum mismatch on received data
  | "chip-id" // device answered but is not the expected chip
  | "no-data" // device reports no measurement (skipped / not ready)
  | "open-circuit" // divider reads at a rail: sensor disconnected
  | "short-circuit" // divider reads at the other rail: sensor shorted
  | "saturated" // ADC at full scale: input above the attenuation range
  | "out-of-range"; // converted value outside the physical or rated range

/** The one error type of sdk/sensors: a reading that must not be used as a number. */
export class SensorError extends Error {
  readonly code: SensorErrorCode;
  constructor(code: SensorErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}
// `name` on the prototype: `this.name = ...` throws where Error.prototype is frozen (Moddable).
Object.defineProperty(SensorError.prototype, "name", { value: "SensorError", configurable: true, writable: true });
