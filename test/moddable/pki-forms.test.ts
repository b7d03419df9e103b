// tools/pki issues what Moddable's TLS (modules/crypt/ssl, 8.2.3) can use; checked here
// without Moddable, with Node's X509 parser (runtime.test.ts then runs the handshakes on
// Moddable's lin runtime). The reasons, with the Moddable source lines, are in tools/pki/index.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createCaInMemory, createCsr, ecdsaSignatureFullLength, ensureCa, issueCertificate, issueClaimCert, issueDeviceCert, loadCa, pkiPaths, signCsr } from "../../tools/pki/index.ts";

const ski = (c: x509.X509Certificate) => c.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
const aki = (c: x509.X509Certificate) => c.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;

test("the CA carries a Subject and an Authority Key Identifier (ssl_cert.js verify() looks issuers up by AKI, the root's included)", async () => {
  const { ca } = await createCaInMemory();
  assert.ok(ski(ca.cert));
  assert.equal(aki(ca.cert), ski(ca.cert), "self-signed: the AKI names its own key");
  const leaf = new x509.X509Certificate((await issueCertificate(ca, { cn: "s", usage: "server", ips: ["127.0.0.1"] })).certPem);
  assert.equal(aki(leaf), ski(ca.cert));
  assert.ok(ski(leaf));
});

test("device and claim keys are RSA-2048 in PKCS#8 (pkcs8.js parses only RSA; certificateVerify signs only with RSA); issueCertificate and CSRs P-256 unless asked", async () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-pki-forms-"));
  try {
    const ca = await ensureCa(dir);
    for (const issued of [await issueDeviceCert(dir, "thing-1"), await issueClaimCert(dir, "factory"), await issueCertificate(ca, { cn: "x", keyType: "rsa" })]) {
      assert.match(issued.keyPem, /^-----BEGIN PRIVATE KEY-----/);
      const key = createPrivateKey(issued.keyPem);
      assert.equal(key.asymmetricKeyType, "rsa");
      assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
      const cert = new X509Certificate(issued.certPem);
      assert.ok(cert.checkPrivateKey(key));
      assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey), "signed by the P-256 CA");
    }
    assert.equal(createPrivateKey((await issueDeviceCert(dir, "thing-ec", { keyType: "ec" })).keyPem).asymmetricKeyType, "ec");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { ca } = await createCaInMemory();
  const server = await issueCertificate(ca, { cn: "s", usage: "server" });
  assert.equal(createPrivateKey(server.keyPem).asymmetricKeyDetails?.namedCurve, "prime256v1");
  assert.equal(createPrivateKey((await issueCertificate(ca, { cn: "thing-2" })).keyPem).asymmetricKeyType, "ec");
  // A CSR with either key is signed with its own key.
  for (const type of ["rsa", "ec"] as const) {
    const csr = await createCsr("x", type);
    const signed = new X509Certificate(await signCsr(ca, csr.csrPem, { cn: "from-csr" }));
    assert.equal(signed.publicKey.export({ format: "der", type: "spki" }).toString("hex"), createPublicKey(csr.keyPem).export({ format: "der", type: "spki" }).toString("hex"));
  }
});

test("ecdsaSignatureFullLength: both INTEGERs 32 bytes once a leading zero is dropped", () => {
  const int = (len: number, first: number) => [0x02, len, first, ...new Array(len - 1).fill(0x11)];
  const sig = (...ints: number[][]) => new Uint8Array([0x30, ints.flat().length, ...ints.flat()]);
  assert.equal(ecdsaSignatureFullLength(sig(int(32, 0x7f), int(32, 0x01))), true);
  assert.equal(ecdsaSignatureFullLength(sig([0x02, 33, 0x00, 0x80, ...new Array(31).fill(1)], int(32, 0x22))), true, "sign byte before a high bit");
  assert.equal(ecdsaSignatureFullLength(sig(int(31, 0x7f), int(32, 0x01))), false, "short r");
  assert.equal(ecdsaSignatureFullLength(sig(int(32, 0x7f), int(31, 0x01))), false, "short s");
  assert.equal(ecdsaSignatureFullLength(new Uint8Array([0x31, 0])), false);
});

test("every ECDSA signature the CA makes has full-length r and s (ssl_cert.js _verify() cannot verify shorter ones)", async () => {
  // About 1 in 128 signatures would be short without the retry: 300 certificates catch a missing retry 9 times in 10.
  const { ca } = await createCaInMemory();
  assert.ok(ecdsaSignatureFullLength(ca.cert.signature));
  for (let i = 0; i < 300; i++) {
    const c = new x509.X509Certificate((await issueCertificate(ca, { cn: `s${i}`, usage: "server" })).certPem);
    assert.ok(ecdsaSignatureFullLength(c.signature), `certificate ${i}`);
  }
});

test("a CA from before (no AKI) is signed again with the same key and name on ensureCa; certificates it issued still chain to it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-pki-old-"));
  try {
    const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as { publicKey: CryptoKey; privateKey: CryptoKey };
    const old = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=old CA, O=xsiot",
      notBefore: new Date(Date.now() - 86_400_000),
      notAfter: new Date(Date.now() + 86_400_000 * 30),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      keys,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true), await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)],
    });
    const p = pkiPaths(dir);
    writeFileSync(p.caCert, old.toString("pem"));
    writeFileSync(p.caKey, x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY"), { mode: 0o600 });
    // Issued by the old CA file (loadCa does not rewrite it).
    const issuedBefore = await issueCertificate(await loadCa(dir), { cn: "before", usage: "server" });
    const ca = await ensureCa(dir);
    assert.equal(ca.created, false);
    const now = new x509.X509Certificate(readFileSync(p.caCert, "utf8"));
    assert.equal(aki(now), ski(old));
    assert.equal(ski(now), ski(old));
    assert.equal(now.subject, old.subject);
    assert.ok(ecdsaSignatureFullLength(now.signature));
    const caX = new X509Certificate(readFileSync(p.caCert, "utf8"));
    for (const pem of [issuedBefore.certPem, (await issueDeviceCert(dir, "after")).certPem]) {
      const leaf = new X509Certificate(pem);
      assert.ok(leaf.checkIssued(caX) && leaf.verify(caX.publicKey));
    }
    assert.equal(readFileSync(p.caCert, "utf8"), (await ensureCa(dir)).certPem, "upgraded once");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
