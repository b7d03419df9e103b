// PKI: CA, device and claim certificates checked with Node's own X509 parser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { statSync } from "node:fs";
import { CLAIM_CN_PREFIX, createCsr, ensureCa, issueClaimCert, issueDeviceCert, signCsr } from "../../tools/pki/index.ts";
import { tempDir } from "./helpers.ts";

test("CA, device (CN = thing) and claim certificates chain to the CA; device keys are RSA-2048 (what Moddable's TLS client auth signs with) and 0600", async () => {
  const t = tempDir("xsiot-pki-");
  try {
    const ca = await ensureCa(t.dir);
    assert.equal(ca.created, true);
    assert.equal((await ensureCa(t.dir)).created, false, "an existing CA is kept");
    const caX = new X509Certificate(ca.certPem);
    assert.ok(caX.ca);
    const dev = await issueDeviceCert(t.dir, "sensor-7");
    const x = new X509Certificate(dev.certPem);
    assert.match(x.subject, /CN=sensor-7/);
    assert.ok(x.checkIssued(caX) && x.verify(caX.publicKey));
    assert.equal(createPrivateKey(dev.keyPem).asymmetricKeyType, "rsa");
    assert.equal(createPrivateKey(dev.keyPem).asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(statSync(dev.keyPath).mode & 0o777, 0o600);
    const claim = new X509Certificate((await issueClaimCert(t.dir, "factory")).certPem);
    assert.match(claim.subject, new RegExp(`CN=${CLAIM_CN_PREFIX.replace(".", "\\.")}factory`));
    await assert.rejects(issueDeviceCert(t.dir, "bad/name"), /invalid thing name/);
    const csr = await createCsr("ignored");
    const signed = new X509Certificate(await signCsr(ca, csr.csrPem, { cn: "from-csr" }));
    assert.match(signed.subject, /CN=from-csr/);
    assert.ok(signed.verify(caX.publicKey));
  } finally {
    t.cleanup();
  }
});
