// time — Moddable modules/base/time/time.js (natives in modules/base/time/esp/modTime.c),
// preloaded by build/devices/esp32/manifest.json. Time.set(seconds since the epoch)
// sets the chip's clock (Date follows it); Time.ticks counts ms; timezone/dst are 0
// unless set (the sim keeps them for the boot only).
import { ok, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  let timezone = 0;
  let dst = 0;
  const Time = {
    set(seconds) {
      sim.host({ op: "time.set", ms: Number(seconds) * 1000 });
    },
    get timezone() {
      return timezone;
    },
    set timezone(v) {
      timezone = Number(v) | 0;
    },
    get dst() {
      return dst;
    },
    set dst(v) {
      dst = Number(v) | 0;
    },
    get ticks() {
      return sim.host({ op: "time.ticks" }).ticks;
    },
    delta(start, end) {
      return (end === undefined ? this.ticks : end) - start;
    },
  };
  sim.emulations.time = () => ({ default: Time });
}`;

export function host(dev: DeviceContext & { setClock(ms: number): void }): HostModule {
  return {
    ops: {
      "time.set"(m) {
        dev.setClock(Number(m.ms));
        return ok();
      },
      "time.ticks"() {
        return ok({ ticks: Math.floor(dev.now) });
      },
    },
  };
}
