// embedded:storage/key-value — Moddable modules/io/storage/esp32/storage-esp32.js + .c (over
// ESP-IDF NVS), mapped and preloaded by modules/io/storage/esp32/manifest.json. Followed here:
// KeyValue.open({path, mode: "r" | "r+" (default), format}) with format "buffer" (the DEFAULT),
// "string", "uint8", "int8", "uint16", "int16", "uint32", "int32" (numbers), "uint64", "int64"
// (bigints); the store's `format` can be changed later. read(key): undefined when absent,
// TypeError "mismatch" when the key holds another NVS type; write(key, value): a buffer for
// "buffer" (TypeError otherwise), String(value) for "string"; writes and deletes throw
// "read-only" in mode "r"; NVS names are 1-15 characters (ESP_ERR_NVS_KEY_TOO_LONG).
// Host side: tools/sim/storage.ts keeps each key as a file; a one-byte tag records the NVS type.
import { StorageError } from "../storage.ts";
import { ok, XsError, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  const FORMATS = ["buffer", "string", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"];
  class Storage {
    #path;
    #format;
    #readOnly;
    #closed = false;
    constructor(path, format, readOnly) {
      this.#path = path;
      this.#format = format;
      this.#readOnly = readOnly;
    }
    #check() {
      if (this.#closed) throw new Error("closed");
    }
    get format() {
      this.#check();
      return this.#format;
    }
    set format(value) {
      this.#check();
      if (!FORMATS.includes(value)) throw new RangeError("invalid format");
      this.#format = value;
    }
    read(key) {
      this.#check();
      const r = sim.host({ op: "kv.read", path: this.#path, key: String(key), format: this.#format });
      if (!r.found) return undefined;
      if (this.#format === "buffer") return r.payload ?? new ArrayBuffer(0);
      if (this.#format === "string") return sim.decoder.decode(r.payload ?? new ArrayBuffer(0));
      return this.#format.endsWith("64") ? BigInt(r.value) : Number(r.value);
    }
    write(key, value) {
      this.#check();
      if (this.#readOnly) throw new Error("read-only");
      const f = this.#format;
      if (f === "buffer") {
        if (!(value instanceof ArrayBuffer) && !ArrayBuffer.isView(value)) throw new TypeError("expected ArrayBuffer or view");
        sim.host({ op: "kv.write", path: this.#path, key: String(key), format: f }, sim.bytes(value));
      } else if (f === "string") sim.host({ op: "kv.write", path: this.#path, key: String(key), format: f }, sim.encoder.encode(String(value)).buffer);
      else sim.host({ op: "kv.write", path: this.#path, key: String(key), format: f, value: String(f.endsWith("64") ? BigInt(value) : Number(value)) });
    }
    delete(key) {
      this.#check();
      if (this.#readOnly) throw new Error("read-only");
      sim.host({ op: "kv.delete", path: this.#path, key: String(key) });
    }
    close() {
      this.#closed = true;
    }
  }
  const KeyValue = {
    open(options) {
      if (!options || options.path === undefined) throw new Error("no path");
      const path = String(options.path);
      if (path.length === 0) throw new Error("invalid");
      const mode = options.mode ?? "r+";
      if (mode !== "r" && mode !== "r+") throw new Error("invalid mode");
      const format = options.format ?? "buffer";
      if (!FORMATS.includes(format)) throw new RangeError("unsupported");
      sim.host({ op: "kv.open", path });
      return new Storage(path, format, mode === "r");
    },
  };
  sim.emulations["key-value"] = () => ({ default: KeyValue });
}`;

/** NVS item types, as the one-byte tag stored in front of each value. */
const TAGS: Record<string, number> = { buffer: 0x42, string: 0x53, uint8: 0x01, int8: 0x11, uint16: 0x02, int16: 0x12, uint32: 0x04, int32: 0x14, uint64: 0x08, int64: 0x18 };
const RANGES: Record<string, [bigint, bigint]> = {
  uint8: [0n, 0xffn],
  int8: [-0x80n, 0x7fn],
  uint16: [0n, 0xffffn],
  int16: [-0x8000n, 0x7fffn],
  uint32: [0n, 0xffffffffn],
  int32: [-0x80000000n, 0x7fffffffn],
  uint64: [0n, 0xffffffffffffffffn],
  int64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

function nvs<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof StorageError) throw new XsError(e.message);
    throw e;
  }
}

export function host(dev: DeviceContext): HostModule {
  const { storage } = dev;
  return {
    ops: {
      "kv.open"(m) {
        nvs(() => storage.kvOpen(m.path));
        return ok();
      },
      "kv.read"(m) {
        const stored = nvs(() => storage.kvRead(m.path, m.key));
        if (!stored || stored.length === 0) return ok({ found: false });
        if (stored[0] !== TAGS[m.format]) throw new XsError("mismatch", "TypeError");
        const body = stored.subarray(1);
        if (m.format === "buffer" || m.format === "string") return ok({ found: true }, body);
        return ok({ found: true, value: new TextDecoder().decode(body) });
      },
      "kv.write"(m, payload) {
        let body: Uint8Array;
        if (m.format === "buffer" || m.format === "string") body = payload ?? new Uint8Array(0);
        else {
          // Moddable converts with xsmcToInteger and truncates to the NVS type: keep the value in range the same way.
          const [lo, hi] = RANGES[m.format];
          const span = hi - lo + 1n;
          let v = BigInt(String(m.value).replace(/\..*$/, "") || "0");
          v = ((((v - lo) % span) + span) % span) + lo;
          body = new TextEncoder().encode(v.toString());
        }
        const stored = new Uint8Array(1 + body.length);
        stored[0] = TAGS[m.format];
        stored.set(body, 1);
        nvs(() => storage.kvWrite(m.path, m.key, stored));
        dev.trace("kv-write", { path: m.path, key: m.key, bytes: body.length });
        return ok();
      },
      "kv.delete"(m) {
        nvs(() => storage.kvDelete(m.path, m.key));
        return ok();
      },
    },
  };
}
