// Moddable SDK 8.2.3 ships no typings for its ECDSA modules: these follow their
// sources (mapped by $MODDABLE/modules/crypt/tls_common.json, which tls_419.json
// and so the tlssocket manifest include). Only what sdk/ota uses is declared.
// sdk/manifest.json hands this file to mcconfig's tsc (typescript.tsconfig.compilerOptions.types).

// $MODDABLE/modules/crypt/arith/ecp.js
declare module "ecp" {
  export default class ECPoint {
    constructor(x: bigint, y: bigint, identity?: boolean);
    get X(): bigint;
    get Y(): bigint;
  }
}

// $MODDABLE/modules/crypt/etc/curve.js
declare module "curve" {
  export default class Curve {
    /** "secp256r1" or "secp384r1" (an unknown name leaves the curve empty). */
    constructor(name: "secp256r1" | "secp384r1");
    get orderSize(): number;
  }
}

// $MODDABLE/modules/crypt/etc/ecdsa.js
declare module "ecdsa" {
  import type ECPoint from "ecp";
  import type Curve from "curve";
  export default class ECDSA {
    /** For verification: the public point Qu and `false`. */
    constructor(key: ECPoint, curve: Curve, privateKey?: boolean);
    /** H: the digest. sig: DER (asn1 true) or r || s. Throws on malformed input. */
    verify(H: ArrayBuffer, sig: ArrayBuffer, asn1?: boolean): boolean;
  }
}
