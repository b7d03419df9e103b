// Host stand-in for embedded:io/system timers (client smoke test only).
const timers = new Map<number, NodeJS.Timeout>();
let next = 1;
export default class System {
  static setTimeout(cb: () => void, ms: number): number {
    const id = next++;
    timers.set(id, setTimeout(() => { timers.delete(id); cb(); }, ms));
    return id;
  }
  static clearTimeout(id: number | undefined): void {
    if (id === undefined) return;
    clearTimeout(timers.get(id));
    timers.delete(id);
  }
}
