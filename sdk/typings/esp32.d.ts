// xsiot's own ESP32 native API (sdk/native/esp32): what Moddable lacks on ESP32.
// The virtual ESP32 implements the same module with ESP-IDF's rules.

declare module "xsiot/native/esp32" {
  export type WakeCause = "timer" | "ext0" | "ext1" | "undefined";
  export type ResetReason = "power-on" | "deep-sleep" | "software" | "panic" | "watchdog" | "brownout";
  export type OtaState = "valid" | "pending-verify" | "invalid" | "aborted" | "new" | "undefined";

  export interface DeepSleepOptions {
    /** Timer wake after this many microseconds. */
    us?: number;
    /** Wake when one RTC GPIO reaches a level (ESP-IDF ext0). */
    ext0?: { pin: number; level: 0 | 1 };
    /** Wake on a set of RTC GPIOs (ESP-IDF ext1). */
    ext1?: { pins: number[]; mode: "any-high" | "all-low" };
  }

  /** Enters deep sleep; the chip reboots on wake. Never returns. */
  export function deepSleep(options: DeepSleepOptions): never;
  export function wakeCause(): WakeCause;
  /** GPIO that caused an ext1 wake, or -1. */
  export function wakePin(): number;
  export function resetReason(): ResetReason;
  /** Size in bytes of the retained block (4096). */
  export const RETAINED_SIZE: number;
  /**
   * A copy of the RTC slow memory block that survives deep sleep (zeroed at
   * power-on). Changing the copy changes nothing: write back with retain().
   */
  export function retained(): ArrayBuffer;
  /** Copies `data` into the retained block at byte `at` (default 0); other bytes are unchanged. RangeError past the end. */
  export function retain(data: ArrayBuffer | ArrayBufferView, at?: number): void;

  export const ota: {
    /** Label of the running app partition ("ota_0" | "ota_1"). */
    running(): string;
    /** Label the next update would be written to. */
    next(): string;
    /** State of the running image. */
    state(): OtaState;
    /** Confirms the running image: cancels the pending rollback. */
    markValid(): void;
    /** Marks the running image invalid and reboots into the previous one. */
    rollback(): never;
  };
}
