// Code signing for OTA images: a P-256 key with a self-signed code-signing
// certificate, ECDSA-SHA256 signatures in DER (what "sig-sha256-ecdsa" carries,
// base64), and the 65-byte public point the device verifies with.
import { createPrivateKey, createPublicKey, sign, verify, webcrypto, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { p256 } from "@noble/curves/nist.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const DAY = 86_400_000;

export interface SigningKey {
  keyPem: string;
  certPem: string;
  /** Uncompressed P-256 point, base64 (device config "publicKey"). */
  publicKey: string;
}

export async function createSigningKey(cn = "xsiot code signing", days = 3650): Promise<SigningKey> {
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as { publicKey: CryptoKey; privateKey: CryptoKey };
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString("hex").replace(/^[89a-f]/, "1"),
    name: `CN=${cn.replace(/([,+"\\<>;=])/g, "\\$1")}, O=xsiot`,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + days * DAY),
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning]),
    ],
  });
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY");
  const certPem = cert.toString("pem");
  return { keyPem, certPem, publicKey: publicPoint(certPem) };
}

function keyObject(pem: string, what: string): KeyObject {
  try {
    return pem.includes("PRIVATE KEY") ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (e) {
    throw new Error(`${what}: not a PEM key or certificate (${(e as Error).message})`);
  }
}

/** Base64 of the 65-byte uncompressed point of a P-256 key (from a private key, public key or certificate PEM). */
export function publicPoint(pem: string, what = "key"): string {
  const k = keyObject(pem, what);
  const pub = k.type === "public" ? k : createPublicKey(k);
  const jwk = pub.export({ format: "jwk" }) as { crv?: string; x?: string; y?: string };
  if (jwk.crv !== "P-256" || !jwk.x || !jwk.y) throw new Error(`${what}: not a P-256 key (OTA signatures are ECDSA P-256)`);
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]).toString("base64");
}

/**
 * ECDSA P-256 over SHA-256 of the image, DER, base64. The signature is
 * normalised to low S (s <= n/2; (r, n - s) is the same signature): some
 * verifiers, like the virtual ESP32's, accept only that canonical form.
 */
export function signImage(keyPem: string, image: Uint8Array): string {
  const key = keyObject(keyPem, "signing key");
  if (key.type !== "private") throw new Error("signing key: a private key PEM is needed to sign");
  if (key.asymmetricKeyDetails?.namedCurve !== "prime256v1") throw new Error("signing key: not a P-256 key (OTA signatures are ECDSA P-256)");
  const der = sign("sha256", image, { key, dsaEncoding: "der" });
  const sig = p256.Signature.fromBytes(der, "der");
  return Buffer.from(sig.hasHighS() ? new p256.Signature(sig.r, p256.Point.Fn.ORDER - sig.s).toBytes("der") : der).toString("base64");
}

export function verifyImage(pem: string, image: Uint8Array, signatureB64: string): boolean {
  const k = keyObject(pem, "key");
  return verify("sha256", image, { key: k.type === "public" ? k : createPublicKey(k), dsaEncoding: "der" }, Buffer.from(signatureB64, "base64"));
}

export const KEY_FILES = { key: "signer.key.pem", cert: "signer.cert.pem", pub: "signer.pub.b64" };

/** Writes signer.key.pem (0600), signer.cert.pem and signer.pub.b64 into dir; refuses to overwrite a key unless force. */
export async function writeSigningKey(dir: string, opts: { force?: boolean; cn?: string } = {}): Promise<SigningKey & { paths: typeof KEY_FILES }> {
  mkdirSync(dir, { recursive: true });
  const paths = { key: join(dir, KEY_FILES.key), cert: join(dir, KEY_FILES.cert), pub: join(dir, KEY_FILES.pub) };
  if (existsSync(paths.key) && !opts.force) throw new Error(`${paths.key} exists: refusing to replace a signing key (devices trust it); use --force`);
  const k = await createSigningKey(opts.cn);
  writeFileSync(paths.key, k.keyPem, { mode: 0o600 });
  chmodSync(paths.key, 0o600);
  writeFileSync(paths.cert, k.certPem);
  writeFileSync(paths.pub, k.publicKey + "\n");
  return { ...k, paths };
}

export function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    throw new Error(`${what} ${path} not found (create one with \`xsiot ota keys\`)`);
  }
}
