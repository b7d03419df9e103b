// embedded:io/i2c — Moddable modules/io/i2c/i2c_async.js (default export: the synchronous
// I2C of _i2c.js, natives in modules/io/i2c/esp32/_i2c.c), mapped and preloaded by
// modules/io/i2c/manifest.json. Followed here: `data`, `clock`, `address` required
// (RangeError "data required" / "clock required" / "address required"); `hz` in
// 1..20000000 (RangeError "invalid hz"); a 7-bit address (RangeError "invalid address");
// one open I2C per address ("duplicate address"); read(count | buffer[, stop]) returns an
// ArrayBuffer (or, given a buffer, fills it and returns its length); write(buffer[, stop]);
// a device that does not acknowledge makes the call throw. Host side: the parts on the
// bus (tools/sim/i2c.ts) answer from the scenario.
import { I2CNack, type I2CPeripheral } from "../i2c.ts";
import { ok, XsError, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  class I2C {
    #id;
    constructor(options) {
      if (!options || typeof options !== "object") throw new TypeError("options required");
      for (const k of ["data", "clock", "address"]) if (options[k] === undefined) throw new RangeError(k + " required");
      this.#id = sim.newId();
      sim.host({ op: "i2c.open", id: this.#id, address: options.address, hz: options.hz, data: options.data, clock: options.clock });
    }
    get format() {
      return "buffer";
    }
    set format(value) {
      if (value !== "buffer") throw new RangeError();
    }
    read(count, stop) {
      if (typeof count === "object" && count !== null) {
        const view = ArrayBuffer.isView(count) ? new Uint8Array(count.buffer, count.byteOffset, count.byteLength) : new Uint8Array(count);
        view.set(new Uint8Array(sim.host({ op: "i2c.read", id: this.#id, count: view.byteLength }).payload ?? new ArrayBuffer(0)));
        return view.byteLength;
      }
      return sim.host({ op: "i2c.read", id: this.#id, count: Number(count) }).payload ?? new ArrayBuffer(0);
    }
    write(buffer, stop) {
      sim.host({ op: "i2c.write", id: this.#id }, sim.bytes(buffer));
    }
    close() {
      sim.host({ op: "i2c.close", id: this.#id });
    }
  }
  sim.emulations.i2c = () => ({ default: I2C });
}`;

export function host(dev: DeviceContext, parts: Map<number, I2CPeripheral>): HostModule {
  const handles = new Map<number, number>();
  const part = (id: number) => {
    const address = handles.get(id);
    if (address === undefined) throw new XsError("closed");
    const p = parts.get(address);
    if (!p) throw new XsError(`I2C: no device acknowledged address 0x${address.toString(16)} (NACK)`);
    return { address, p };
  };
  const nack = (address: number, e: unknown) => {
    if (e instanceof I2CNack) throw new XsError(`I2C 0x${address.toString(16)}: ${e.message}`);
    throw e;
  };
  return {
    ops: {
      "i2c.open"(m) {
        const hz = Number(m.hz);
        if (!(Number.isInteger(hz) && hz > 0 && hz <= 20_000_000)) throw new XsError("invalid hz", "RangeError");
        if (!Number.isInteger(m.address) || m.address < 0 || m.address > 0x7f) throw new XsError("invalid address", "RangeError");
        for (const a of handles.values()) if (a === m.address) throw new XsError("duplicate address", "RangeError");
        handles.set(m.id, m.address);
        return ok();
      },
      "i2c.write"(m, payload) {
        const { address, p } = part(m.id);
        try {
          p.write(payload ?? new Uint8Array(0), dev.now);
        } catch (e) {
          nack(address, e);
        }
        return ok();
      },
      "i2c.read"(m) {
        const { address, p } = part(m.id);
        try {
          return ok({}, p.read(m.count, dev.now));
        } catch (e) {
          return nack(address, e);
        }
      },
      "i2c.close"(m) {
        handles.delete(m.id);
        return ok();
      },
    },
    reset() {
      handles.clear();
    },
  };
}
