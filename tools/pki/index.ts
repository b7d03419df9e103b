// Local PKI for xsiot: a CA with a P-256 key, per-thing device certificates
// (CN = thing name), claim certificates for fleet provisioning, and the
// server certificate of the local cloud's mutual-TLS listener.
//
// Forms chosen so that Moddable's TLS (modules/crypt/ssl, the stack that runs on the
// ESP32) can use them, as read in Moddable SDK 8.2.3:
// - Client keys are RSA-2048 in PKCS#8 ("PRIVATE KEY"): modules/crypt/etc/pkcs8.js
//   parse() reads only an RSAPrivateKey inside PKCS#8 ("RSA only"; a P-256 key throws
//   "BER: not an integer" at etc/ber.js:85), and ssl/ssl_handshake.js certificateVerify
//   packetize() signs only with PKCS1_5 (RSA); anything else is "unimplemented".
//   Device and claim certificates (the files the CLI writes, for flashing) get RSA keys;
//   issueCertificate and createCsr default to P-256 (keyType "rsa" on request). The cloud's
//   CreateKeysAndCertificate (tools/cloud/provisioning.ts) still answers with P-256 keys, which
//   a device on Moddable cannot authenticate with (RSA keygen there is 0.1-1 s per request).
// - Every certificate, the self-signed CA included, carries a Subject and an Authority
//   Key Identifier: ssl/ssl_cert.js verify() looks the issuer up by the AKI of each
//   certificate the server sends and compares it with Bin.comp, which throws on a
//   missing AKI (an XS abort when a server sends the root with its chain).
// - The CA and server keys stay P-256 with ECDSA-SHA256 signatures: ssl_cert.js
//   _verify() checks ECDSA P-256 signatures, and the cipher suites of
//   ssl/ssl_ciphersuites.js include TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (handled
//   as its ECDHE_RSA key exchange, the server's signature checked by ECDSA).
// - Every ECDSA signature the CA makes has r and s of full length (32 bytes, no leading
//   zero byte): ssl_cert.js _verify() (line ~261) rebuilds the signature as
//   ArrayBuffer.fromBigInt(r).concat(ArrayBuffer.fromBigInt(s)), minimal-length each, and
//   ecdsa.js verify() splits that at 32 bytes, so a signature whose r is shorter (about
//   1 in 256) never verifies there: "certificate: auth err" (XS abort) when it is the root's.
//   The CA signs again (ECDSA signatures are randomised) until r and s (to be safe) are full length.
// X.509 work is done by @peculiar/x509 on Node's WebCrypto.
// Private keys are written with mode 0600 and never returned by anything that logs.
import { createHash, webcrypto } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import "reflect-metadata"; // @peculiar/x509 (tsyringe) needs the Reflect metadata polyfill loaded first
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const DEFAULT_PKI_DIR = ".xsiot/pki";
/** Claim certificates carry this CN prefix. A '.' cannot occur in an AWS thing name
 * ([a-zA-Z0-9:_-]+), so a claim CN can never be mistaken for a thing. */
export const CLAIM_CN_PREFIX = "xsiot-claim.";
const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const RSA = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" } as const;
/** Key of an issued certificate: "rsa" (RSA-2048, what Moddable's TLS client auth takes) or "ec" (P-256). */
export type KeyType = "rsa" | "ec";
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}
export interface IssuedFiles extends CertAndKey {
  cn: string;
  certPath: string;
  keyPath: string;
}

export function isValidThingName(name: string): boolean {
  return THING_NAME.test(name);
}
export function isClaimCn(cn: string): boolean {
  return cn.startsWith(CLAIM_CN_PREFIX);
}

function serial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] &= 0x7f; // positive INTEGER
  return Buffer.from(b).toString("hex");
}

type KeyPair = { publicKey: CryptoKey; privateKey: CryptoKey };
const generate = (type: KeyType) => webcrypto.subtle.generateKey(type === "rsa" ? RSA : EC, true, ["sign", "verify"]) as Promise<KeyPair>;

// RSA-2048 generation takes 50-800 ms (CPU-bound, off the event loop): a couple are made ahead so the
// cloud's CreateKeysAndCertificate answers as fast as a P-256 one.
const RSA_AHEAD = 2;
const rsaPool: Promise<KeyPair>[] = [];
function ahead(): void {
  const p = generate("rsa");
  p.catch(() => undefined); // a failure surfaces when the key is taken
  rsaPool.push(p);
}

function keyPair(type: KeyType = "ec"): Promise<KeyPair> {
  if (type !== "rsa") return generate(type);
  while (rsaPool.length < RSA_AHEAD) ahead();
  const next = rsaPool.shift()!;
  ahead();
  return next;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  return webcrypto.subtle.importKey("pkcs8", der, EC, true, ["sign"]);
}

/** True when both INTEGERs of a DER ECDSA-Sig-Value are `size` bytes long once a leading
 * zero byte is dropped (what Moddable's ssl_cert.js can verify, see above). */
export function ecdsaSignatureFullLength(sig: ArrayBuffer | Uint8Array, size = 32): boolean {
  const b = sig instanceof Uint8Array ? sig : new Uint8Array(sig);
  if (b[0] !== 0x30 || b[1] & 0x80) return false;
  let i = 2;
  for (let k = 0; k < 2; k++) {
    if (b[i] !== 0x02) return false;
    let len = b[i + 1];
    i += 2;
    let j = i;
    while (len > 0 && b[j] === 0) (j++, len--);
    if (len !== size) return false;
    i = j + len;
  }
  return true;
}

/** Signs again until Moddable can verify the signature (at most 64 tries; a try fails ~1 in 128). */
async function moddableVerifiable(make: () => Promise<x509.X509Certificate>): Promise<x509.X509Certificate> {
  for (let i = 0; ; i++) {
    const cert = await make();
    if (ecdsaSignatureFullLength(cert.signature) || i >= 63) return cert;
  }
}

function escapeDn(v: string): string {
  return v.replace(/([,+"\\<>;=])/g, "\\$1");
}

/** CA loaded in memory, able to sign. */
export interface Ca {
  certPem: string;
  cert: x509.X509Certificate;
  key: CryptoKey;
}

export async function createCaInMemory(opts: { cn?: string; days?: number } = {}): Promise<{ ca: Ca; keyPem: string }> {
  const keys = await keyPair();
  const name = `CN=${escapeDn(opts.cn ?? "xsiot local CA")}, O=xsiot`;
  const now = Date.now();
  const cert = await selfSignCa(keys, name, new Date(now - DAY), new Date(now + (opts.days ?? 3650) * DAY));
  return { ca: { certPem: cert.toString("pem"), cert, key: keys.privateKey }, keyPem: await privateKeyPem(keys.privateKey) };
}

function selfSignCa(keys: { publicKey: CryptoKey; privateKey: CryptoKey }, name: string, notBefore: Date, notAfter: Date): Promise<x509.X509Certificate> {
  return moddableVerifiable(async () => x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name,
    notBefore,
    notAfter,
    signingAlgorithm: SIGN,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      // Self-signed, so the AKI names its own key (Moddable's ssl_cert.js needs one on every certificate).
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  }));
}

/** True if Moddable's TLS can verify this CA certificate (AKI present, full-length ECDSA signature). */
export function caUsableByModdable(cert: x509.X509Certificate): boolean {
  return !!cert.getExtension(x509.AuthorityKeyIdentifierExtension) && ecdsaSignatureFullLength(cert.signature);
}

export interface IssueOptions {
  cn: string;
  days?: number;
  /** "client" (devices, claims) or "server" (the cloud's TLS listener). */
  usage?: "client" | "server";
  /** DNS names and IP addresses for a server certificate. */
  dns?: string[];
  ips?: string[];
  ou?: string;
  /** Key of the new certificate (default "ec", P-256). A device on Moddable needs "rsa":
   * its TLS signs its CertificateVerify only with RSA (the device and claim files below are RSA). */
  keyType?: KeyType;
}

async function issueWithKey(ca: Ca, publicKey: CryptoKey, opts: IssueOptions): Promise<x509.X509Certificate> {
  const now = Date.now();
  const usage = opts.usage ?? "client";
  const subject = `CN=${escapeDn(opts.cn)}${opts.ou ? `, OU=${escapeDn(opts.ou)}` : ""}, O=xsiot`;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
  const names: x509.JsonGeneralName[] = [
    ...(opts.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(opts.ips ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  return moddableVerifiable(() => x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: ca.cert.subject,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + (opts.days ?? 825) * DAY),
    signingAlgorithm: SIGN,
    publicKey,
    signingKey: ca.key,
    extensions,
  }));
}

/** Issues a certificate with a fresh key (in memory; nothing written): P-256 unless `keyType` says "rsa". */
export async function issueCertificate(ca: Ca, opts: IssueOptions): Promise<CertAndKey> {
  const keys = await keyPair(opts.keyType);
  const cert = await issueWithKey(ca, keys.publicKey, opts);
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Signs a PKCS#10 CSR (PEM) with a P-256 or RSA key. The CSR's own signature is verified; the subject is replaced by `cn`. */
export async function signCsr(ca: Ca, csrPem: string, opts: IssueOptions): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  if (!(await csr.verify())) throw new Error("CSR signature does not verify");
  const publicKey = await csr.publicKey.export(csr.publicKey.algorithm.name === "ECDSA" ? EC : RSA, ["verify"]);
  return (await issueWithKey(ca, publicKey, opts)).toString("pem");
}

/** Makes a CSR (PEM) and its key (default P-256; "rsa" for a device on Moddable): for tests and device-side tooling. */
export async function createCsr(cn: string, keyType: KeyType = "ec"): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await keyPair(keyType);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${escapeDn(cn)}`, keys, signingAlgorithm: keyType === "rsa" ? RSA : SIGN });
  return { csrPem: csr.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Verifies that `certPem` was signed by the CA and reads its CN. */
export async function verifyIssued(ca: Ca, certPem: string): Promise<{ cn: string; valid: boolean }> {
  const cert = new x509.X509Certificate(certPem);
  const valid = await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true });
  return { cn: commonName(cert.subject), valid };
}

export function commonName(subject: string): string {
  const m = /(?:^|,\s*)CN=((?:\\.|[^,\\])*)/.exec(subject);
  return m ? m[1].replace(/\\(.)/g, "$1") : "";
}

/** AWS-style certificate id: SHA-256 of the DER certificate, in hex. */
export function certificateId(certPem: string): string {
  const der = x509.PemConverter.decode(certPem)[0];
  return createHash("sha256").update(new Uint8Array(der)).digest("hex");
}

// ---- files in a directory ----------------------------------------------------

export interface PkiPaths {
  dir: string;
  caCert: string;
  caKey: string;
}
export function pkiPaths(dir = DEFAULT_PKI_DIR): PkiPaths {
  return { dir, caCert: join(dir, "ca.cert.pem"), caKey: join(dir, "ca.key.pem") };
}

function writeKey(path: string, pem: string): void {
  writeFileSync(path, pem, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Creates the CA in `dir` unless one is there (then loads it). `force` replaces it. */
export async function ensureCa(dir = DEFAULT_PKI_DIR, opts: { cn?: string; days?: number; force?: boolean } = {}): Promise<Ca & { created: boolean; certPath: string }> {
  const p = pkiPaths(dir);
  if (!opts.force && existsSync(p.caCert) && existsSync(p.caKey)) {
    const ca = await loadCa(dir);
    if (caUsableByModdable(ca.cert)) return { ...ca, created: false, certPath: p.caCert };
    // A CA from before AKIs (or with a short signature): the same key and name signed again,
    // so every certificate it issued still chains to it and Moddable can verify it.
    const publicKey = await ca.cert.publicKey.export(EC, ["verify"]);
    const cert = await selfSignCa({ publicKey, privateKey: ca.key }, ca.cert.subject, ca.cert.notBefore, ca.cert.notAfter);
    writeFileSync(p.caCert, cert.toString("pem"));
    return { certPem: cert.toString("pem"), cert, key: ca.key, created: false, certPath: p.caCert };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { ca, keyPem } = await createCaInMemory(opts);
  writeFileSync(p.caCert, ca.certPem);
  writeKey(p.caKey, keyPem);
  return { ...ca, created: true, certPath: p.caCert };
}

export async function loadCa(dir = DEFAULT_PKI_DIR): Promise<Ca> {
  const p = pkiPaths(dir);
  if (!existsSync(p.caCert) || !existsSync(p.caKey)) throw new Error(`no CA in ${dir} (run \`xsiot provision ca --dir ${dir}\`)`);
  const certPem = readFileSync(p.caCert, "utf8");
  return { certPem, cert: new x509.X509Certificate(certPem), key: await importPrivateKey(readFileSync(p.caKey, "utf8")) };
}

async function issueToFiles(dir: string, sub: string, base: string, opts: IssueOptions): Promise<IssuedFiles> {
  const ca = await loadCa(dir);
  const out = join(dir, sub);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const issued = await issueCertificate(ca, opts);
  const certPath = join(out, `${base}.cert.pem`);
  const keyPath = join(out, `${base}.key.pem`);
  writeFileSync(certPath, issued.certPem);
  writeKey(keyPath, issued.keyPem);
  return { ...issued, cn: opts.cn, certPath, keyPath };
}

/** Device certificate for a thing: `<dir>/things/<thing>.{cert,key}.pem`, CN = thing name; RSA-2048 key unless `keyType` "ec". */
export async function issueDeviceCert(dir: string, thingName: string, opts: { days?: number; keyType?: KeyType } = {}): Promise<IssuedFiles> {
  if (!isValidThingName(thingName)) throw new Error(`invalid thing name ${JSON.stringify(thingName)} (1-128 of [a-zA-Z0-9:_-])`);
  return issueToFiles(dir, "things", thingName, { cn: thingName, days: opts.days, usage: "client", keyType: opts.keyType ?? "rsa" });
}

/** Claim certificate (fleet provisioning by claim): `<dir>/claims/<name>.{cert,key}.pem`, CN = CLAIM_CN_PREFIX + name; RSA-2048 key unless `keyType` "ec". */
export async function issueClaimCert(dir: string, name = "default", opts: { days?: number; keyType?: KeyType } = {}): Promise<IssuedFiles> {
  if (!isValidThingName(name)) throw new Error(`invalid claim name ${JSON.stringify(name)} (1-128 of [a-zA-Z0-9:_-])`);
  return issueToFiles(dir, "claims", name, { cn: CLAIM_CN_PREFIX + name, ou: "claim", days: opts.days, usage: "client", keyType: opts.keyType ?? "rsa" });
}

/** Server certificate for the cloud's TLS listener (loopback names), reused while present. */
export async function ensureServerCert(dir: string, hosts: string[] = ["127.0.0.1", "localhost"]): Promise<IssuedFiles> {
  const certPath = join(dir, "server", "server.cert.pem");
  const keyPath = join(dir, "server", "server.key.pem");
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readFileSync(certPath, "utf8");
    const ca = await loadCa(dir);
    const cert = new x509.X509Certificate(certPem);
    const wanted = hosts.every((h) => cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.some((n) => n.value === h));
    if (wanted && (await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }))) {
      return { cn: "xsiot-cloud", certPem, keyPem: readFileSync(keyPath, "utf8"), certPath, keyPath };
    }
  }
  const ips = hosts.filter((h) => /^[\d.]+$|:/.test(h));
  const dns = hosts.filter((h) => !ips.includes(h));
  return issueToFiles(dir, "server", "server", { cn: "xsiot-cloud", usage: "server", dns, ips });
}
