// xsiot/native/esp32 on Espruino: deep sleep, wake cause, and the retained block.
//
// What survives an ESP32 deep sleep under Espruino: nothing of the JS heap, and
// no RTC memory either (Espruino exposes none to JS; ESP32.deepSleep ends in
// esp_deep_sleep_start and the chip boots afresh, targets/esp32/jswrap_esp32.c).
// Only flash survives: require("Storage"). So the "retained block" that the
// sleep scheduler keeps in RTC memory on Moddable is the Storage file
// "xsiot.rtc" here (written at most twice a wake: before the radio goes on and
// before sleeping). It also survives a power cut, where RTC memory would not;
// the scheduler treats it the same way (CRC-checked, rebuilt from the snapshot).
//
// Wake sources: ESP32.deepSleep(us) arms the timer only and
// ESP32.deepSleepExt0(pin, level) arms the pin only (each starts the sleep),
// so a timer AND a GPIO wake cannot be armed together from Espruino JS. The
// port keeps the timer (the sample schedule) and the app reads the pin at each
// wake (setWatch while awake): a door change during sleep waits for the next
// timer wake instead of waking the chip.
export type WakeCause = "timer" | "ext0" | "ext1" | "undefined";
export type ResetReason = "power-on" | "deep-sleep" | "software" | "panic" | "watchdog" | "brownout";

export interface DeepSleepOptions {
  us?: number;
  ext0?: { pin: number; level: 0 | 1 };
  ext1?: { pins: number[]; mode: "any-high" | "all-low" };
}

export const RETAINED_SIZE = 4096;
const RETAINED_FILE = "xsiot.rtc";

function esp32(): NonNullable<typeof ESP32> {
  if (typeof ESP32 === "undefined") throw new Error("ESP32 is missing: not an ESP32 build (on Linux, load espruino/port/linux-double.js first)");
  return ESP32;
}

/** Sleeps; the chip reboots on wake. ext0 alone (no us) arms the pin; with us the timer wins (see above). */
export function deepSleep(options: DeepSleepOptions): void {
  const e = esp32();
  if (options.us === undefined && options.ext0) e.deepSleepExt0(options.ext0.pin, options.ext0.level);
  else e.deepSleep(Math.max(1, Math.round(options.us || 0)));
}

export function wakeCause(): WakeCause {
  const c = esp32().getWakeupCause();
  return c === 4 ? "timer" : c === 2 ? "ext0" : c === 3 ? "ext1" : "undefined";
}

export function wakePin(): number {
  const p = esp32().getWakeupPin();
  return p === undefined ? -1 : +(p as number);
}

/** Espruino tells a deep-sleep wake (a wake cause) from every other boot; nothing finer. */
export function resetReason(): ResetReason {
  return esp32().getWakeupCause() ? "deep-sleep" : "power-on";
}

/** A copy of the retained block (zeros when never written). */
export function retained(): ArrayBuffer {
  const out = new Uint8Array(RETAINED_SIZE);
  const raw: string | undefined = require("Storage").read(RETAINED_FILE);
  if (raw) out.set(E.toUint8Array(raw.length > RETAINED_SIZE ? raw.substr(0, RETAINED_SIZE) : raw));
  return out.buffer;
}

/** Writes `data` at byte `at`: the file is rewritten with what was there before it, then data (what lies past it is dropped: the scheduler writes the whole block from 0). */
export function retain(data: ArrayBuffer | ArrayBufferView, at = 0): void {
  const b = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (at < 0 || at + b.length > RETAINED_SIZE) throw new RangeError("retain: past the retained block");
  const block = new Uint8Array(at + b.length);
  if (at) block.set(new Uint8Array(retained()).subarray(0, at));
  block.set(b, at);
  require("Storage").write(RETAINED_FILE, E.toString(block));
}

export const ota = {
  running: (): string => "factory",
  next: (): string => "none",
  state: (): string => "undefined",
  markValid(): void {},
  rollback(): never {
    throw new Error("OTA: not on Espruino (see espruino/README.md)");
  },
};
