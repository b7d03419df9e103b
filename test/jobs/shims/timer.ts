// Host stand-in for Moddable's `timer` module (modules/base/timer/timer.js):
// set/clear over Node's timers, for the default timers of sdk/timer/timers.ts.
// Unit tests inject their own fake clocks; this only lets the module graph load.
export default class Timer {
  private constructor() {}
  static set(callback: (t: unknown) => void, ms = 0): NodeJS.Timeout {
    const t: NodeJS.Timeout = setTimeout(() => callback(t), ms);
    return t;
  }
  static clear(t: NodeJS.Timeout | undefined | null): void {
    if (t) clearTimeout(t);
  }
}
