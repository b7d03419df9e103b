// Simulated I2C peripherals on the virtual ESP32's bus.
import type { Signal } from "./scenario.ts";

export class I2CNack extends Error {}

export interface I2CPeripheral {
  write(bytes: Uint8Array, nowMs: number): void;
  read(count: number, nowMs: number): Uint8Array;
}

/** Sensirion CRC-8: polynomial 0x31, init 0xFF (SHT3x datasheet 4.12). */
export function sensirionCrc8(a: number, b: number): number {
  let crc = 0xff;
  for (const byte of [a, b]) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/**
 * SHT3x-DIS: single-shot measurements (0x2400/0x240B/0x2416 without clock
 * stretching, 0x2C06/0x2C0D/0x2C10 with), soft reset 0x30A2, status 0xF32D,
 * clear status 0x3041. A read before the measurement is done is NACKed, as the
 * chip does without clock stretching.
 */
export class Sht3x implements I2CPeripheral {
  private pending: { readyAt: number; data: Uint8Array } | undefined;
  private status = 0x8010; // alert pending + reset detected after power-up

  constructor(private readonly inputs: Record<string, Signal>, private readonly startMs: number) {}

  private measurement(nowMs: number): Uint8Array {
    const t = this.inputs.temperature?.(nowMs - this.startMs) ?? 22;
    const rh = this.inputs.humidity?.(nowMs - this.startMs) ?? 45;
    // Datasheet 4.13: T = -45 + 175 * St / 65535, RH = 100 * Srh / 65535
    const st = Math.max(0, Math.min(65535, Math.round(((t + 45) * 65535) / 175)));
    const srh = Math.max(0, Math.min(65535, Math.round((rh * 65535) / 100)));
    const out = new Uint8Array(6);
    out[0] = st >> 8;
    out[1] = st & 0xff;
    out[2] = sensirionCrc8(out[0], out[1]);
    out[3] = srh >> 8;
    out[4] = srh & 0xff;
    out[5] = sensirionCrc8(out[3], out[4]);
    return out;
  }

  write(bytes: Uint8Array, nowMs: number): void {
    if (bytes.length !== 2) throw new I2CNack("SHT3x: commands are 2 bytes");
    const cmd = (bytes[0] << 8) | bytes[1];
    const durations: Record<number, number> = { 0x2400: 15, 0x240b: 6, 0x2416: 4, 0x2c06: 15, 0x2c0d: 6, 0x2c10: 4 };
    if (cmd in durations) {
      this.pending = { readyAt: nowMs + durations[cmd], data: this.measurement(nowMs) };
    } else if (cmd === 0x30a2) {
      this.pending = undefined;
      this.status = 0x0010;
    } else if (cmd === 0xf32d) {
      const s = this.status;
      this.pending = { readyAt: nowMs, data: Uint8Array.of(s >> 8, s & 0xff, sensirionCrc8(s >> 8, s & 0xff)) };
    } else if (cmd === 0x3041) {
      this.status &= ~0x8c13 & 0xffff;
    } else {
      throw new I2CNack(`SHT3x: unknown command 0x${cmd.toString(16)}`);
    }
  }

  read(count: number, nowMs: number): Uint8Array {
    const p = this.pending;
    if (!p || nowMs < p.readyAt) throw new I2CNack("SHT3x: no data ready (read NACKed)");
    this.pending = undefined;
    const out = new Uint8Array(count);
    out.set(p.data.subarray(0, count));
    return out;
  }
}
