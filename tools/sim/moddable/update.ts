// embedded:update — Moddable modules/io/update/esp32/update-esp32.js + .c (over ESP-IDF's
// esp_ota_*), mapped and preloaded by modules/io/update/esp32/manifest.json. Followed here:
// Update.open({partition: a Flash instance from embedded:storage/flash ("nextota"),
// mode: "a" (default: sequential writes, each sector erased as the writes reach it,
// OTA_WITH_SEQUENTIAL_WRITES) | "w" (writes at offsets; byteLength bytes, or the whole
// partition, erased up front), byteLength}) = esp_ota_begin; write(buffer) in "a" (an offset
// throws "offset not allowed"), write(buffer, offset) in "w"; complete() = esp_ota_end (the
// image must verify: "end failed") + esp_ota_set_boot_partition (the new image boots next,
// pending verification under CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE); close() without
// complete() aborts. There is no read(), cancel() or resume: open() starts over.
import { ok, XsError, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  class UpdateSession {
    #id;
    #done = false;
    constructor(id) {
      this.#id = id;
    }
    get format() {
      return "buffer";
    }
    set format(value) {
      if (value !== "buffer") throw new RangeError("invalid");
    }
    write(buffer, byteOffset) {
      if (this.#done) throw new Error("already complete");
      if (arguments.length > 1) sim.host({ op: "update.write", id: this.#id, byteOffset: Number(byteOffset) }, sim.bytes(buffer));
      else sim.host({ op: "update.write", id: this.#id }, sim.bytes(buffer));
    }
    complete() {
      if (this.#done) throw new Error("already complete");
      this.#done = true;
      sim.host({ op: "update.complete", id: this.#id });
    }
    close() {
      if (this.#done) return;
      this.#done = true;
      sim.host({ op: "update.abort", id: this.#id });
    }
  }
  const Update = {
    open(options) {
      if (!options || options.partition === undefined) throw new Error("no partition");
      const p = sim.flashPartition?.(options.partition);
      if (!p) throw new Error("partition not found");
      if (p.readOnly) throw new Error("read-only partition");
      const mode = options.mode ?? "a";
      if (mode !== "a" && mode !== "w") throw new RangeError("invalid mode");
      if ((options.format ?? "buffer") !== "buffer") throw new RangeError("unsupported");
      const id = sim.newId();
      sim.host({ op: "update.open", id, partition: p.partition, mode, byteLength: options.byteLength ?? null });
      return new UpdateSession(id);
    },
  };
  sim.emulations.update = () => ({ default: Update });
}`;

interface Session {
  partition: "ota_0" | "ota_1";
  append: boolean;
  position: number;
  /** Sectors erased so far in append mode. */
  erased: number;
}

export function host(dev: DeviceContext): HostModule {
  const sessions = new Map<number, Session>();
  const session = (id: number) => {
    const s = sessions.get(id);
    if (!s) throw new XsError("already complete");
    return s;
  };
  return {
    ops: {
      "update.open"(m) {
        const partition = m.partition as "ota_0" | "ota_1";
        if (partition !== "ota_0" && partition !== "ota_1") throw new XsError("begin failed"); // not an app partition
        if (partition === dev.running().partition) throw new XsError("begin failed"); // ESP_ERR_OTA_PARTITION_CONFLICT
        const size = dev.storage.partitionSize(partition);
        if (m.byteLength !== null && !(Number(m.byteLength) >= 0 && Number(m.byteLength) <= size)) throw new XsError("invalid byteLength", "RangeError");
        const append = m.mode === "a";
        // Whatever was in the slot is no longer a bootable image.
        const ota = dev.otaData();
        if (ota.states[partition] !== "empty") {
          ota.states[partition] = "empty";
          dev.writeOtaData(ota);
        }
        if (!append) {
          const bytes = m.byteLength === null ? size : Number(m.byteLength);
          const blocks = Math.ceil(bytes / dev.storage.blockLength);
          for (let b = 0; b < blocks; b++) dev.storage.flashErase(partition, b);
        }
        sessions.set(m.id, { partition, append, position: 0, erased: 0 });
        dev.trace("update-open", { partition, bytes: m.byteLength, mode: m.mode });
        return ok();
      },
      "update.write"(m, payload) {
        const s = session(m.id);
        const bytes = payload ?? new Uint8Array(0);
        const block = dev.storage.blockLength;
        if (s.append) {
          if (m.byteOffset !== undefined) throw new XsError("offset not allowed");
          const end = s.position + bytes.length;
          if (end > dev.storage.partitionSize(s.partition)) throw new XsError("write failed");
          while (s.erased * block < end) dev.storage.flashErase(s.partition, s.erased++);
          dev.storage.flashWrite(s.partition, s.position, bytes);
          s.position = end;
        } else {
          const at = Number(m.byteOffset);
          if (!(at >= 0 && at <= 0xffffffff)) throw new XsError("invalid offset", "RangeError");
          if (at + bytes.length > dev.storage.partitionSize(s.partition)) throw new XsError("write failed");
          dev.storage.flashWrite(s.partition, at, bytes);
        }
        return ok();
      },
      "update.complete"(m) {
        const s = session(m.id);
        sessions.delete(m.id);
        const info = dev.readImage(s.partition);
        if (!info) throw new XsError("end failed"); // esp_ota_end: ESP_ERR_OTA_VALIDATE_FAILED
        const ota = dev.otaData();
        ota.states[s.partition] = "new";
        ota.boot = s.partition;
        dev.writeOtaData(ota);
        dev.trace("update-complete", { partition: s.partition, version: info.version });
        return ok();
      },
      "update.abort"(m) {
        const s = sessions.get(m.id);
        sessions.delete(m.id);
        if (s) dev.trace("update-abort", { partition: s.partition });
        return ok();
      },
    },
    reset() {
      sessions.clear();
    },
  };
}
