// ecdsa, curve, ecp — Moddable modules/crypt/etc/ecdsa.js, modules/crypt/etc/curve.js and
// modules/crypt/arith/ecp.js, mapped and preloaded by modules/crypt/tls_common.json (which
// tls_419.json and so the tlssocket manifest include). Followed here:
//  - new Curve("secp256r1" | "secp384r1"): G (an ECPoint), n, orderSize; an unknown name
//    leaves the object empty (curve.js returns early).
//  - new ECPoint(x, y, identity = false) with X/Y accessors (bigints).
//  - new ECDSA(Qu, curve): Qu the public point; verify(H, sig, asn1): H the digest
//    (ArrayBuffer), sig DER (asn1 true) or r || s of orderSize bytes each; true or false.
//    Malformed DER throws, as ber.js does. sign() is not emulated.
// Host side: @noble/curves checks the signature (the chip does it in XS over native
// big-number arithmetic, modules/crypt/arith).
import { p256, p384 } from "@noble/curves/nist.js";
import { ok, XsError, type DeviceContext, type HostModule } from "./context.ts";

export const xs = String.raw`function (sim) {
  class ECPoint {
    constructor(x, y, identity = false) {
      this.x = x;
      this.y = y;
      this.z = identity ? 0n : 1n;
    }
    get X() {
      return this.x;
    }
    get Y() {
      return this.y;
    }
    set X(x) {
      this.x = x;
    }
    set Y(y) {
      this.y = y;
    }
    isZero() {
      return this.z == 0n;
    }
    toString() {
      return this.isZero() ? "0" : this.x + "," + this.y + "," + this.z;
    }
  }
  const curves = {
    secp256r1: {
      Gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
      Gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
      n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    },
    secp384r1: {
      Gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
      Gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
      n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    },
  };
  const names = new WeakMap();
  class Curve {
    constructor(name) {
      if (!(name in curves)) return;
      const c = curves[name];
      this.G = new ECPoint(c.Gx, c.Gy);
      this.n = c.n;
      names.set(this, name);
    }
    get orderSize() {
      return (BigInt.bitLength(this.n) + 7) >>> 3;
    }
  }
  const hex = (v, bytes) => {
    let s = v.toString(16);
    while (s.length < bytes * 2) s = "0" + s;
    return s;
  };
  class ECDSA {
    #curve;
    #key;
    constructor(key, curve) {
      const name = names.get(curve);
      if (!name) throw new TypeError("ECDSA: curve must be a Curve from the curve module");
      this.#curve = name;
      this.#key = key;
      this.orderSize = curve.orderSize;
    }
    verify(H, sig, asn1) {
      const size = this.orderSize;
      const key = hex(this.#key.X, size) + hex(this.#key.Y, size);
      return sim.host({ op: "ecdsa.verify", curve: this.#curve, key, asn1: !!asn1, digest: H.byteLength }, sim.bytes(H).concat(sim.bytes(sig))).valid;
    }
    sign() {
      throw new Error("ECDSA.sign is not emulated by the virtual ESP32");
    }
  }
  sim.emulations.ecdsa = (specifier) =>
    specifier === "curve" ? { default: Curve } : specifier === "ecp" ? { default: ECPoint } : { default: ECDSA };
}`;

export function host(_dev: DeviceContext): HostModule {
  return {
    ops: {
      "ecdsa.verify"(m, payload) {
        const curve = m.curve === "secp384r1" ? p384 : p256;
        const bytes = payload ?? new Uint8Array(0);
        const digest = bytes.subarray(0, m.digest);
        const sig = bytes.subarray(m.digest);
        let point: Uint8Array;
        try {
          point = Uint8Array.from(Buffer.from("04" + m.key, "hex"));
          curve.Point.fromBytes(point);
        } catch {
          return ok({ valid: false }); // Qu is not on the curve: the equation cannot hold
        }
        if (m.asn1 && (sig.length < 8 || sig[0] !== 0x30)) throw new XsError("BER: not a SEQUENCE"); // ber.js throws on malformed input
        try {
          return ok({ valid: curve.verify(sig, digest, point, { prehash: false, format: m.asn1 ? "der" : "compact", lowS: false }) });
        } catch {
          if (m.asn1) throw new XsError("BER: malformed signature");
          return ok({ valid: false });
        }
      },
    },
  };
}
