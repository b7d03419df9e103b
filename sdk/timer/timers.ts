// One-shot timers for the SDK's ports, over Moddable's `timer` module.
// `timer` is preloaded on every Moddable platform (esp32:
// build/devices/esp32/manifest.json; lin: build/simulators/manifest.json);
// the `System` global is not used for timers because lin's System
// (modules/io/manifests/lin/system.js) has no setTimeout/clearTimeout.
// A timer id is opaque: Moddable's Timer.set returns a Timer object
// (typings/timer.d.ts), tests' fake clocks return numbers.
import Timer from "timer";

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export const deviceTimers: Timers = {
  setTimeout: (callback, ms) => Timer.set(() => callback(), ms),
  clearTimeout: (id) => {
    if (id !== undefined) Timer.clear(id as Timer);
  },
};
