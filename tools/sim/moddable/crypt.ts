// crypt — Moddable modules/crypt/digest/crypt.js (natives in modules/crypt/digest/modCrypt.c,
// over kcl), mapped and preloaded by modules/crypt/digest/manifest.json. Emulated: Digest
// ("MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512"; else Error): write(string |
// buffer), close() -> ArrayBuffer, reset(), process(...parts), update(data), blockSize,
// outputSize. Not emulated: GHASH, BlockCipher, StreamCipher, Mode and the other classes.
// Host side: Node's hashes stand for the chip's (hardware SHA on the ESP32).
import { createHash, type Hash } from "node:crypto";
import { ok, XsError, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  class Digest {
    #id;
    #sizes;
    constructor(type) {
      this.#id = sim.newId();
      this.#sizes = sim.host({ op: "digest.new", id: this.#id, algorithm: String(type) });
    }
    write(data) {
      sim.host({ op: "digest.write", id: this.#id }, typeof data === "string" ? sim.encoder.encode(data).buffer : sim.bytes(data));
    }
    close() {
      return sim.host({ op: "digest.close", id: this.#id }).payload;
    }
    reset() {
      sim.host({ op: "digest.reset", id: this.#id });
    }
    get blockSize() {
      return this.#sizes.blockSize;
    }
    get outputSize() {
      return this.#sizes.outputSize;
    }
    process(...parts) {
      this.reset();
      for (const p of parts) this.write(p);
      return this.close();
    }
    update(data) {
      this.write(data);
    }
  }
  sim.emulations.crypt = () => ({ Digest });
}`;

const ALGORITHMS: Record<string, [string, number, number]> = {
  MD5: ["md5", 16, 64],
  SHA1: ["sha1", 20, 64],
  SHA224: ["sha224", 28, 64],
  SHA256: ["sha256", 32, 64],
  SHA384: ["sha384", 48, 128],
  SHA512: ["sha512", 64, 128],
};

export function host(_dev: DeviceContext): HostModule {
  const digests = new Map<number, { alg: string; hash: Hash }>();
  const get = (id: number) => {
    const d = digests.get(id);
    if (!d) throw new XsError("closed");
    return d;
  };
  return {
    ops: {
      "digest.new"(m) {
        const a = ALGORITHMS[m.algorithm as string];
        if (!a) throw new XsError("unsupported algorithm");
        digests.set(m.id, { alg: a[0], hash: createHash(a[0]) });
        return ok({ outputSize: a[1], blockSize: a[2] });
      },
      "digest.write"(m, payload) {
        get(m.id).hash.update(payload ?? new Uint8Array(0));
        return ok();
      },
      "digest.close"(m) {
        const d = get(m.id);
        const out = new Uint8Array(d.hash.digest());
        d.hash = createHash(d.alg); // the native object stays usable after reset()
        return ok({}, out);
      },
      "digest.reset"(m) {
        const d = get(m.id);
        d.hash = createHash(d.alg);
        return ok();
      },
    },
    reset() {
      digests.clear();
    },
  };
}
