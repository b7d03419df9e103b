// timer — Moddable modules/base/timer/timer.js (natives in modules/base/timer/modTimer.c),
// preloaded by build/devices/esp32/manifest.json. Timer.set(callback, delay, repeat)
// returns a host object (not a number) that the callback receives; Timer.repeat,
// Timer.schedule(id, delay, repeat), Timer.clear(id), Timer.delay(ms).
// Host side: timers run on the virtual clock (VirtualDevice's timer list).
import { ok, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  const timers = new Map(); // numeric id the host knows -> { callback, handle, repeat }
  const ids = new Map(); // handle -> numeric id
  function set(callback, delay, repeat) {
    if (typeof callback !== "function") throw new TypeError("timer callback must be a function");
    const id = sim.newId();
    const handle = Object.freeze({});
    ids.set(handle, id);
    timers.set(id, { callback, handle, repeat: repeat || 0 });
    sim.host({ op: "timer.set", id, delay: Math.max(0, Number(delay) || 0), repeat: repeat || 0 });
    return handle;
  }
  function clear(handle) {
    const id = ids.get(handle);
    if (id === undefined) return;
    ids.delete(handle);
    timers.delete(id);
    sim.host({ op: "timer.clear", id });
  }
  const Timer = {
    set: (callback, delay, repeat) => set(callback, delay, repeat),
    repeat: (callback, interval) => set(callback, interval, interval),
    schedule(handle, delay, repeat) {
      const id = ids.get(handle);
      const t = id === undefined ? undefined : timers.get(id);
      if (!t) return;
      t.repeat = repeat || 0;
      sim.host({ op: "timer.set", id, delay: Math.max(0, Number(delay) || 0), repeat: repeat || 0 });
    },
    clear,
    delay(ms) {
      sim.host({ op: "timer.delay", ms });
    },
  };
  sim.timer = { set, clear };
  sim.emulations.timer = () => ({ default: Timer });
  sim.handlers.timer = (message) => {
    const t = timers.get(message.id);
    if (!t) return;
    if (!t.repeat) {
      timers.delete(message.id);
      ids.delete(t.handle);
    }
    t.callback(t.handle);
  };
}`;

export function host(dev: DeviceContext): HostModule {
  return {
    ops: {
      "timer.set"(m) {
        dev.removeTimer("timer", m.id);
        dev.addTimer(dev.now + m.delay, m.id, "timer", m.repeat);
        return ok();
      },
      "timer.clear"(m) {
        dev.removeTimer("timer", m.id);
        return ok();
      },
      "timer.delay"(m) {
        // A busy wait on the chip: the CPU stays awake for the time.
        dev.spend(dev.awakeState(), Math.max(0, Number(m.ms) || 0));
        return ok();
      },
    },
  };
}
