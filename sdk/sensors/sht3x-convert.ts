import { SensorError } from "./error";
import { crc8 } from "./crc8";

/** SHT3x single-shot commands (datasheet table 9) and their maximum measurement time in ms. */
export const SHT3X_SINGLE_SHOT = {
  high: { command: 0x2400, maxMs: 15 },
  medium: { command: 0x240b, maxMs: 6 },
  low: { command: 0x2416, maxMs: 4 },
} as const;
export type Sht3xRepeatability = keyof typeof SHT3X_SINGLE_SHOT;

export interface Sht3xReading {
  /** °C */
  temperature: number;
  /** %RH */
  humidity: number;
}

/** Rated operating range of the SHT3x (datasheet: -40..125 °C). */
export const SHT3X_MIN_C = -40;
export const SHT3X_MAX_C = 125;

/**
 * Converts the 6-byte single-shot response [T msb, T lsb, CRC, RH msb, RH lsb, CRC]:
 * T = -45 + 175 * St / 65535, RH = 100 * Srh / 65535. Both CRCs are checked.
 */
export function sht3xConvert(data: Uint8Array): Sht3xReading {
  if (data.length !== 6) throw new SensorError("short-read", `SHT3x: expected 6 bytes, got ${data.length}`);
  if (crc8(data, 0, 2) !== data[2]) throw new SensorError("crc", `SHT3x: temperature CRC 0x${data[2].toString(16)} != 0x${crc8(data, 0, 2).toString(16)}`);
  if (crc8(data, 3, 5) !== data[5]) throw new SensorError("crc", `SHT3x: humidity CRC 0x${data[5].toString(16)} != 0x${crc8(data, 3, 5).toString(16)}`);
  const st = (data[0] << 8) | data[1];
  const srh = (data[3] << 8) | data[4];
  const temperature = -45 + (175 * st) / 65535;
  const humidity = (100 * srh) / 65535;
  if (temperature < SHT3X_MIN_C || temperature > SHT3X_MAX_C) {
    throw new SensorError("out-of-range", `SHT3x: temperature ${temperature.toFixed(2)} °C outside ${SHT3X_MIN_C}..${SHT3X_MAX_C} °C`);
  }
  return { temperature, humidity };
}
