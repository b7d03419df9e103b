// system — Moddable modules/io/system/system.js, preloaded by
// modules/io/manifests/esp32/manifest.json: it sets globalThis.System (and
// globalThis.device, not emulated). On esp32: deepSleep() (does nothing there:
// xs_system_deepSleep is implemented for ESP8266/nRF52 only), restart(),
// resolve(name, callback), setTimeout/clearTimeout = Timer.set/clear,
// setInterval/clearInterval = Timer.repeat/clear. There is no module
// "embedded:io/system" at run time: that name exists only in the typings.
import { ok, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  class System {
    static deepSleep() {
      sim.trace("System.deepSleep() does nothing on ESP32 (Moddable); use xsiot/native/esp32 deepSleep");
    }
    static restart() {
      sim.host({ op: "system.restart" });
      for (;;); // the host stops the worker before this line matters
    }
    static resolve(name, callback) {
      throw new Error("System.resolve (DNS) is not emulated by the virtual ESP32: use a dotted IPv4 address");
    }
    static setTimeout(callback, delay) {
      return sim.timer.set(callback, delay);
    }
    static clearTimeout(id) {
      sim.timer.clear(id);
    }
    static setInterval(callback, delay) {
      return sim.timer.set(callback, delay, delay);
    }
    static clearInterval(id) {
      sim.timer.clear(id);
    }
  }
  sim.emulations.system = () => ({});
  sim.globals.system = () => System;
}`;

export function host(dev: DeviceContext): HostModule {
  return {
    ops: {
      "system.restart"() {
        dev.restart();
        return ok();
      },
    },
  };
}
