// embedded:storage/flash — Moddable modules/io/flash/esp32/flash-esp32.js + .c, mapped and
// preloaded by modules/io/flash/esp32/manifest.json (modules/io/update's manifest includes it).
// Followed here: Flash.open({path, mode: "r" | "r+"}) where path is "nextota" (the OTA slot
// not running), "running", or the label of a data partition (else Error "can't find
// partition"); read(byteLength | buffer, byteOffset) returns an ArrayBuffer (or fills the
// buffer and returns its length); write(buffer, byteOffset) with NOR semantics (writes only
// clear bits: erase first); eraseBlock(start[, end]) erases blocks [start, end) of
// blockLength bytes; status() -> {size, blockLength, blocks}; "read-only" in mode "r".
// Host side: partitions are files (tools/sim/storage.ts) with the board's 4096-byte sectors.
import { ok, XsError, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  const partitions = new WeakMap(); // Flash instance -> { partition, readOnly }, for embedded:update
  class Flash {
    #id;
    #readOnly;
    #closed = false;
    #status;
    constructor(id, info, readOnly) {
      this.#id = id;
      this.#readOnly = readOnly;
      this.#status = { size: info.size, blockLength: info.blockLength, blocks: info.blocks };
      partitions.set(this, { id, partition: info.partition, readOnly });
    }
    #check(write) {
      if (this.#closed) throw new Error("closed");
      if (write && this.#readOnly) throw new Error("read-only");
    }
    get format() {
      return "buffer";
    }
    set format(value) {
      if (value !== "buffer") throw new RangeError("invalid");
    }
    read(byteLength, byteOffset) {
      this.#check(false);
      if (typeof byteLength === "object" && byteLength !== null) {
        const view = ArrayBuffer.isView(byteLength) ? new Uint8Array(byteLength.buffer, byteLength.byteOffset, byteLength.byteLength) : new Uint8Array(byteLength);
        view.set(new Uint8Array(sim.host({ op: "flash.read", id: this.#id, byteLength: view.byteLength, byteOffset: Number(byteOffset) | 0 }).payload));
        return view.byteLength;
      }
      return sim.host({ op: "flash.read", id: this.#id, byteLength: Number(byteLength) | 0, byteOffset: Number(byteOffset) | 0 }).payload ?? new ArrayBuffer(0);
    }
    write(buffer, byteOffset) {
      this.#check(true);
      sim.host({ op: "flash.write", id: this.#id, byteOffset: Number(byteOffset) | 0 }, sim.bytes(buffer));
    }
    eraseBlock(start, end) {
      this.#check(true);
      const s = Number(start) | 0;
      sim.host({ op: "flash.erase", id: this.#id, start: s, end: end === undefined ? s + 1 : Number(end) | 0 });
    }
    status() {
      this.#check(false);
      return { ...this.#status };
    }
    close() {
      this.#closed = true;
      partitions.delete(this);
    }
  }
  const FlashModule = {
    open(options) {
      if (!options || options.path === undefined) throw new Error("no path");
      const mode = options.mode ?? "r+";
      if (mode !== "r" && mode !== "r+") throw new Error("invalid mode");
      const id = sim.newId();
      const info = sim.host({ op: "flash.open", id, path: String(options.path) });
      return new Flash(id, info, mode === "r");
    },
  };
  sim.flashPartition = (flash) => partitions.get(flash);
  sim.emulations.flash = () => ({ default: FlashModule });
}`;

export function host(dev: DeviceContext): HostModule {
  const open = new Map<number, string>();
  const partition = (id: number) => {
    const p = open.get(id);
    if (!p) throw new XsError("closed");
    return p;
  };
  const range = (name: string, offset: number, length: number, what: string) => {
    if (!(offset >= 0) || !(length >= 0) || offset + length > dev.storage.partitionSize(name)) throw new XsError(`${what} failed`);
  };
  return {
    ops: {
      "flash.open"(m) {
        const running = dev.running().partition;
        let name: string;
        if (m.path === "nextota") name = running === "ota_0" ? "ota_1" : "ota_0";
        else if (m.path === "running") name = running;
        else if (m.path === "ota_0" || m.path === "ota_1" || !(m.path in dev.board.flash.partitions)) throw new XsError("can't find partition");
        else if (m.path === "nvs" || m.path === "otadata") throw new XsError(`raw access to the "${m.path}" partition is not emulated by the virtual ESP32`);
        else name = m.path;
        open.set(m.id, name);
        const size = dev.storage.partitionSize(name);
        const blockLength = dev.storage.blockLength;
        return ok({ partition: name, size, blockLength, blocks: Math.floor(size / blockLength) });
      },
      "flash.read"(m) {
        const name = partition(m.id);
        range(name, m.byteOffset, m.byteLength, "read");
        return ok({}, dev.storage.flashRead(name, m.byteOffset, m.byteLength));
      },
      "flash.write"(m, payload) {
        const name = partition(m.id);
        const bytes = payload ?? new Uint8Array(0);
        range(name, m.byteOffset, bytes.length, "write");
        dev.storage.flashWrite(name, m.byteOffset, bytes);
        dev.trace("flash-write", { partition: name, offset: m.byteOffset, bytes: bytes.length });
        return ok();
      },
      "flash.erase"(m) {
        const name = partition(m.id);
        const blocks = Math.floor(dev.storage.partitionSize(name) / dev.storage.blockLength);
        if (!(m.start >= 0 && m.end > m.start && m.end <= blocks)) throw new XsError("erase failed");
        for (let b = m.start; b < m.end; b++) dev.storage.flashErase(name, b);
        return ok();
      },
    },
    reset() {
      open.clear();
    },
  };
}
