// embedded:io/digital — Moddable modules/io/digital/digital.js over digitalbank
// (modules/io/digital/esp32/digitalbank.c), mapped and preloaded by
// modules/io/digital/manifest.json. Followed here: `pin` required (Error "invalid"),
// `mode` one of Input 0, InputPullUp 1, InputPullDown 2, InputPullUpDown 3, Output 8,
// OutputOpenDrain 9 (RangeError "invalid mode"); one open Digital per pin ("in use");
// outputs only on output-capable pins (GPIO 34-39 are input only: RangeError "input only");
// `edge` Rising 1 | Falling 2 with onReadable; read() 0 or 1; write() on an input throws
// "can't write input". Host side: input levels come from the scenario; edges are timers.
import { ok, XsError, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  const pins = new Map();
  class Digital {
    #id;
    #options;
    constructor(options) {
      if (!options || options.pin === undefined) throw new Error("invalid");
      const pin = typeof options.pin === "object" ? options.pin.pin : options.pin;
      this.#id = sim.newId();
      this.#options = options;
      sim.host({ op: "gpio.open", id: this.#id, pin, mode: options.mode, edge: options.onReadable ? options.edge ?? 0 : 0 });
      if (options.onReadable) pins.set(this.#id, this);
    }
    read() {
      return sim.host({ op: "gpio.read", id: this.#id }).value;
    }
    write(value) {
      sim.host({ op: "gpio.write", id: this.#id, value: Number(value) ? 1 : 0 });
    }
    close() {
      pins.delete(this.#id);
      sim.host({ op: "gpio.close", id: this.#id });
    }
    _event() {
      this.#options.onReadable?.call(this);
    }
  }
  Digital.Input = 0;
  Digital.InputPullUp = 1;
  Digital.InputPullDown = 2;
  Digital.InputPullUpDown = 3;
  Digital.Output = 8;
  Digital.OutputOpenDrain = 9;
  Digital.Rising = 1;
  Digital.Falling = 2;
  sim.emulations.digital = () => ({ default: Digital });
  sim.handlers.gpio = (message) => pins.get(message.id)?._event();
}`;

const MODES = new Set([0, 1, 2, 3, 8, 9]);

interface PinWatch {
  id: number;
  pin: number;
  edge: number;
  output: boolean;
}

export function host(dev: DeviceContext): HostModule & { fired(id: number): boolean } {
  const watches = new Map<number, PinWatch>();
  const level = (pin: number) => {
    const g = dev.scenario.gpio.get(pin);
    return g ? g.level(dev.now) : 1; // unscripted inputs read high (pull-up)
  };
  const scheduleEdge = (watch: PinWatch) => {
    const g = dev.scenario.gpio.get(watch.pin);
    if (!g) return;
    let t = dev.now;
    for (;;) {
      const e = g.edges(t, dev.endAt);
      if (e === undefined) return;
      const rising = g.level(e) === 1;
      if ((rising && watch.edge & 1) || (!rising && watch.edge & 2)) {
        dev.addTimer(e, watch.id, "gpio");
        return;
      }
      t = e;
    }
  };
  return {
    ops: {
      "gpio.open"(m) {
        const pin = Number(m.pin);
        if (!Number.isInteger(pin) || pin < 0 || pin > 39) throw new XsError("invalid pin");
        if (!MODES.has(m.mode)) throw new XsError("invalid mode", "RangeError");
        for (const w of watches.values()) if (w.pin === pin) throw new XsError("in use");
        const output = m.mode >= 8;
        if (output && pin >= 34) throw new XsError("input only", "RangeError");
        const watch: PinWatch = { id: m.id, pin, edge: output ? 0 : (m.edge ?? 0), output };
        watches.set(m.id, watch);
        if (watch.edge) scheduleEdge(watch);
        return ok();
      },
      "gpio.read"(m) {
        const w = watches.get(m.id);
        if (!w) throw new XsError("closed");
        return ok({ value: level(w.pin) });
      },
      "gpio.write"(m) {
        const w = watches.get(m.id);
        if (!w) throw new XsError("closed");
        if (!w.output) throw new XsError("can't write input");
        dev.trace("gpio", { id: m.id, pin: w.pin, value: m.value });
        return ok();
      },
      "gpio.close"(m) {
        watches.delete(m.id);
        dev.removeTimer("gpio", m.id);
        return ok();
      },
    },
    /** A scheduled edge came due: re-arm for the next one; true if the app should hear of it. */
    fired(id: number): boolean {
      const w = watches.get(id);
      if (!w) return false;
      scheduleEdge(w);
      return true;
    },
    reset() {
      watches.clear();
    },
  };
}
