import type { DeepSleepOptions } from "xsiot/native/esp32";
import { SensorError } from "./error";

/** A GPIO level that should wake the chip from deep sleep. */
export interface WakeSource {
  pin: number;
  level: 0 | 1;
}

/** ESP32 (ESP-WROOM-32) GPIOs routed to the RTC domain: the only ones ext0/ext1 can watch. */
export const RTC_GPIOS: readonly number[] = [0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39];

/**
 * Turns wake sources into the GPIO part of `deepSleep()` options:
 * - one source: ext0 (that pin at that level);
 * - several sources all at level 1: ext1 "any-high" (any of them high wakes);
 * - several sources all at level 0: ext1 "all-low" (wakes only when ALL are low:
 *   an ESP32 ext1 limit, so use one pin for "any button pressed" on active-low inputs);
 * - mixed levels cannot be expressed on ESP32: SensorError("config").
 * `us` (timer wake) is passed through.
 */
export function wakeOptions(sources: readonly WakeSource[], us?: number): DeepSleepOptions {
  const out: DeepSleepOptions = {};
  if (us !== undefined) {
    if (!(Number.isInteger(us) && us > 0)) throw new SensorError("config", `wake timer ${us} us must be a positive integer`);
    out.us = us;
  }
  const seen = new Set<number>();
  for (const s of sources) {
    if (!RTC_GPIOS.includes(s.pin)) throw new SensorError("config", `GPIO ${s.pin} is not an RTC GPIO and cannot wake the ESP32 from deep sleep`);
    if (s.level !== 0 && s.level !== 1) throw new SensorError("config", `wake level for GPIO ${s.pin} must be 0 or 1`);
    if (seen.has(s.pin)) throw new SensorError("config", `GPIO ${s.pin} is listed twice as a wake source`);
    seen.add(s.pin);
  }
  if (sources.length === 1) out.ext0 = { pin: sources[0].pin, level: sources[0].level };
  else if (sources.length > 1) {
    const level = sources[0].level;
    if (sources.some((s) => s.level !== level)) throw new SensorError("config", "ext1 wake sources must all wake on the same level");
    out.ext1 = { pins: sources.map((s) => s.pin), mode: level ? "any-high" : "all-low" };
  }
  return out;
}
