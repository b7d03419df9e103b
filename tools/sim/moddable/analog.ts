// embedded:io/analog — Moddable modules/io/analog/esp32/_analog.js + _analog.c, mapped and
// preloaded by modules/io/analog/manifest.json. Followed here: `pin` must be an ADC pin
// (RangeError "not analog pin"), one open Analog per pin ("in use"); options.esp32 =
// { attenuation: 0 | 2.5 | 6 | 12 dB (default 12; else RangeError "bad attenuation"),
// calibrated (default true) }; resolution 12. read(): uncalibrated, the raw ADC count; calibrated,
// the calibrated millivolts scaled back to the ADC range: raw = mV * 4095 / Vmax, with
// (Vmin, Vmax) = (100, 950), (100, 1250), (150, 1750), (150, 2450) mV for 0, 2.5, 6, 12 dB.
// Host side: the input voltage comes from the scenario; the raw count from the board's
// ADC characteristic (boards/*.json), which is measured at 11-12 dB whatever the attenuation.
import { adcRawFromMv } from "../board.ts";
import { ok, XsError, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  class Analog {
    #id;
    constructor(options) {
      if (!options || typeof options !== "object") throw new TypeError("options required");
      const e = options.esp32 ?? {};
      this.#id = sim.newId();
      sim.host({ op: "adc.open", id: this.#id, pin: options.pin, attenuation: e.attenuation ?? 12, calibrated: e.calibrated ?? true });
    }
    get resolution() {
      return 12;
    }
    read() {
      return sim.host({ op: "adc.read", id: this.#id }).value;
    }
    close() {
      sim.host({ op: "adc.close", id: this.#id });
    }
  }
  sim.emulations.analog = () => ({ default: Analog });
}`;

/** ESP32 ADC1 and ADC2 pins (ESP32 datasheet, GPIO & RTC GPIO table). */
const ADC_PINS = new Set([36, 37, 38, 39, 32, 33, 34, 35, 4, 0, 2, 15, 13, 12, 14, 27, 25, 26]);
const ATTENUATION: Record<string, [number, number]> = { "0": [100, 950], "2.5": [100, 1250], "6": [150, 1750], "12": [150, 2450] };

export function host(dev: DeviceContext): HostModule {
  const open = new Map<number, { pin: number; vmin: number; vmax: number; calibrated: boolean }>();
  return {
    ops: {
      "adc.open"(m) {
        const pin = Number(m.pin);
        if (!ADC_PINS.has(pin)) throw new XsError("not analog pin", "RangeError");
        for (const a of open.values()) if (a.pin === pin) throw new XsError("in use", "RangeError");
        const range = ATTENUATION[String(Number(m.attenuation))];
        if (!range) throw new XsError("bad attenuation", "RangeError");
        open.set(m.id, { pin, vmin: range[0], vmax: range[1], calibrated: !!m.calibrated });
        return ok();
      },
      "adc.read"(m) {
        const a = open.get(m.id);
        if (!a) throw new XsError("closed");
        const signal = dev.scenario.adc.get(a.pin);
        const mv = signal ? signal(dev.now) : 0;
        if (!a.calibrated) return ok({ value: adcRawFromMv(dev.board, mv) });
        const clamped = Math.min(a.vmax, Math.max(a.vmin, mv));
        return ok({ value: Math.min(4095, Math.floor((clamped * 4095) / a.vmax)) });
      },
      "adc.close"(m) {
        open.delete(m.id);
        return ok();
      },
    },
    reset() {
      open.clear();
    },
  };
}
