// Host stand-in for Moddable's "timer" module (client smoke test only): Timer.set / Timer.clear.
const timers = new Map<number, NodeJS.Timeout>();
let next = 1;
/** Every delay asked of Timer.set, in order: tests read what the client asked for, not what the clock shows. */
export const requested: number[] = [];
const Timer = {
  set(cb: () => void, ms = 0): number {
    requested.push(ms);
    const id = next++;
    timers.set(id, setTimeout(() => { timers.delete(id); cb(); }, ms));
    return id;
  },
  clear(id: number | undefined): void {
    if (id === undefined) return;
    clearTimeout(timers.get(id));
    timers.delete(id);
  },
};
export default Timer;
