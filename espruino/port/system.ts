// embedded:io/system on Espruino: its own setTimeout/clearTimeout.
// Espruino's clearTimeout() with no argument clears EVERY timer, and an id
// that already fired throws: both are guarded here.
export function setTimer(callback: () => void, ms: number): number {
  return setTimeout(callback, ms < 0 ? 0 : ms) as unknown as number;
}

export function clearTimer(id: unknown): void {
  if (id === undefined || id === null) return;
  try {
    clearTimeout(id as number);
  } catch (e) {
    // already fired
  }
}

const System = { setTimeout: setTimer, clearTimeout: clearTimer };
export default System;

/** Moddable's Timer global, which sdk/mqtt/client uses. */
export const Timer = { set: setTimer, clear: clearTimer };

/** Moddable's trace(): Espruino's own trace() dumps the variable tree, so the bundle gets this one. */
export function trace(...values: unknown[]): void {
  let s = "";
  for (let i = 0; i < values.length; i++) s += String(values[i]);
  if (s.charAt(s.length - 1) === "\n") s = s.slice(0, -1);
  print(s);
}
