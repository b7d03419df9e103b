// xsiot/native/esp32 — not Moddable's: the SDK's own small C module (sdk/native/esp32/esp32.c,
// mapped by sdk/native/esp32/manifest.json on esp32) for what Moddable lacks on ESP32:
// deep sleep with timer/GPIO wake (esp_sleep_*), the RTC retained block (RTC_DATA_ATTR),
// reset reason and wake cause, and OTA confirm/rollback (esp_ota_mark_app_valid_cancel_rollback,
// esp_ota_mark_app_invalid_rollback_and_reboot). The sim implements the same JS API; the
// power states, RTC memory and boot loader themselves are VirtualDevice's (device.ts).
import { ok, XsError, type DeviceContext, type HostModule } from "./context.ts";

export const RETAINED_BYTES = 4096;

export const xs = String.raw`function (sim) {
  const esp32 = {
    RETAINED_SIZE: 4096,
    deepSleep(options) {
      const o = options ?? {};
      // The host ends the worker during this call, so the delivery never reports its
      // meters: read the compute meter here for the energy account of this wake.
      sim.host({ op: "deepSleep", us: o.us ?? null, ext0: o.ext0 ?? null, ext1: o.ext1 ?? null, compute: sim.compute() });
      for (;;); // unreachable: the host powers the worker down during the call
    },
    wakeCause: () => sim.host({ op: "esp32.info" }).wakeCause,
    wakePin: () => sim.host({ op: "esp32.info" }).wakePin,
    resetReason: () => sim.host({ op: "esp32.info" }).resetReason,
    retained: () => sim.host({ op: "retained.read" }).payload,
    retain(data, at) {
      sim.host({ op: "retained.write", at: at ?? 0 }, sim.bytes(data));
    },
    ota: {
      running: () => sim.host({ op: "ota.info" }).running,
      next: () => sim.host({ op: "ota.info" }).next,
      state: () => sim.host({ op: "ota.info" }).state,
      markValid: () => void sim.host({ op: "ota.markValid" }),
      rollback() {
        sim.host({ op: "ota.rollback" });
        for (;;);
      },
    },
  };
  sim.emulations["native-esp32"] = () => ({ ...esp32, default: esp32 });
}`;

export function host(dev: DeviceContext): HostModule {
  return {
    ops: {
      deepSleep(m) {
        if (m.us !== null && !(Number(m.us) >= 0)) throw new XsError("deepSleep: us must be a non-negative number", "RangeError");
        for (const w of [m.ext0, ...(m.ext1?.pins ?? []).map((pin: number) => ({ pin }))].filter(Boolean))
          if (!dev.board.rtcGpio.includes(w.pin)) throw new XsError(`deepSleep: GPIO ${w.pin} is not an RTC GPIO and cannot wake the chip`, "RangeError");
        if (m.us === null && !m.ext0 && !m.ext1) throw new XsError("deepSleep: no wake source (give us, ext0 or ext1)", "RangeError");
        dev.sleep({ us: m.us === null ? null : Number(m.us), ext0: m.ext0, ext1: m.ext1, compute: Number(m.compute) || 0 });
        return ok();
      },
      "esp32.info"() {
        return ok(dev.resetInfo());
      },
      "retained.read"() {
        return ok({}, dev.retained().slice());
      },
      "retained.write"(m, payload) {
        const data = payload ?? new Uint8Array(0);
        const at = Number(m.at);
        if (!Number.isInteger(at) || at < 0 || at + data.length > RETAINED_BYTES)
          throw new XsError(`retain: ${data.length} bytes at ${m.at} do not fit the ${RETAINED_BYTES}-byte retained block`, "RangeError");
        dev.retained().set(data, at);
        return ok();
      },
      "ota.info"() {
        const running = dev.running().partition;
        return ok({ running, next: running === "ota_0" ? "ota_1" : "ota_0", state: dev.otaData().states[running] });
      },
      "ota.markValid"() {
        const ota = dev.otaData();
        const running = dev.running();
        if (ota.states[running.partition] !== "valid") {
          ota.states[running.partition] = "valid";
          dev.writeOtaData(ota);
          dev.trace("ota-valid", { partition: running.partition, version: running.info.version });
        }
        return ok();
      },
      "ota.rollback"() {
        dev.rollback();
        return ok();
      },
    },
  };
}
