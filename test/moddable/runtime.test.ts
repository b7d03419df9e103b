// The SDK on Moddable's real runtime: test/moddable/apps/runner built for lin by Moddable's
// mcconfig and run headless (scripts/moddable/host.c) runs the SDK's MQTT client, shadow client
// and jobs agent over plain TCP, and the MQTT client over mutual TLS through Moddable's own TLS
// (tlssocket + modules/crypt/ssl), against a real Mosquitto and against `xsiot cloud`; the
// assertions are made on the broker's and the cloud's side (MQTT.js as the peer application),
// as test/mqtt-xs does on the virtual ESP32.
// Skipped, with the reason, without MODDABLE (a checkout with its Linux tools built) or Mosquitto.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toolchain, linkedModules, unresolvedImports, REPO } from "../../scripts/moddable/lib.ts";
import { buildLinApp, linHost, LinApp } from "../../scripts/moddable/lin.ts";
import { startMosquitto, peer, collect, until, skipNoBroker, type Broker } from "../mqtt-xs/broker.ts";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import { createCaInMemory, issueCertificate, issueDeviceCert, type Ca } from "../../tools/pki/index.ts";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

const tc = toolchain();
const skip = typeof tc === "string" ? tc : skipNoBroker;
const HOST = "127.0.0.1"; // lin's embedded:io/socket/tcp takes a numeric address only

let broker: Broker;
let tlsBroker: Broker;
let mosquittoCa: Ca;
let cloud: Cloud;
let cloudDir: string;
let host: string;
let library: string;
const running: LinApp[] = [];

before(async () => {
  if (skip) return;
  const t = tc as Exclude<typeof tc, string>;
  const build = buildLinApp(t, join(REPO, "test/moddable/apps/runner/manifest.json"), "runner");
  if (!build.ok) throw new Error(`lin build of test/moddable/apps/runner failed:\n${build.errors.join("\n")}`);
  // An import nothing links would abort the app at boot with only "unhandled exception": name it here.
  const { unresolved } = unresolvedImports(linkedModules(build.tmpDir));
  if (unresolved.length) throw new Error(`the lin runner links no module for: ${unresolved.map((u) => `${u.module} -> "${u.specifier}"`).join(", ")}`);
  library = build.library!;
  host = linHost(t);
  broker = await startMosquitto();
  // A Mosquitto mTLS listener with its own CA from tools/pki (OpenSSL sends the root with the
  // leaf, which Moddable's ssl_cert.js verify() walks by Authority Key Identifier).
  mosquittoCa = (await createCaInMemory({ cn: "lin mosquitto CA" })).ca;
  const server = await issueCertificate(mosquittoCa, { cn: HOST, usage: "server", ips: [HOST] });
  tlsBroker = await startMosquitto({ tls: { caPem: mosquittoCa.certPem, certPem: server.certPem, keyPem: server.keyPem } });
  cloudDir = mkdtempSync(join(tmpdir(), "xsiot-moddable-cloud-"));
  cloud = await startCloud({ dir: cloudDir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
});
after(async () => {
  for (const app of running) await app.stop("SIGKILL");
  await broker?.stop();
  await tlsBroker?.stop();
  await cloud?.close();
  if (cloudDir) rmSync(cloudDir, { recursive: true, force: true });
});

async function start(): Promise<LinApp> {
  const app = new LinApp(host, library);
  running.push(app);
  await app.waitFor((e) => e.ev === "ready", "the app to start");
  return app;
}
const is = (ev: string, id: string) => (e: { ev: string; id?: string }) => e.ev === ev && e.id === id;

test("lin runtime: the globals Moddable provides (System with resolve/setInterval/clearInterval only, frozen Error.prototype, no TextDecoder)", { skip }, async () => {
  const app = await start();
  const ready = app.events[0];
  await app.stop();
  assert.deepEqual(ready.system, ["clearInterval", "resolve", "setInterval"]);
  assert.equal(ready.frozenErrorPrototype, true);
  assert.equal(ready.textDecoder, "undefined");
});

for (const version of [4, 5] as const) {
  test(`lin runtime, MQTT ${version === 4 ? "3.1.1" : "5"}: QoS 0/1/2 both ways with MQTT.js through Mosquitto, clean close`, { skip }, async () => {
    const id = `q${version}`;
    const js = await peer(broker.port, { protocolVersion: version });
    const got = collect(js);
    await js.subscribeAsync(`lin/${id}/out/#`, { qos: 2 });
    const app = await start();
    try {
      app.send({ op: "client", id, options: { host: HOST, port: broker.port, clientId: `lin-${id}`, version } });
      app.send({ op: "sub", id, filters: [`lin/${id}/in/#`], qos: 2 });
      const sub = await app.waitFor(is("subscribed", id), "SUBACK");
      assert.deepEqual(sub.results, [{ filter: `lin/${id}/in/#`, granted: 2 }]);
      for (const q of [0, 1, 2]) {
        app.send({ op: "pub", id, topic: `lin/${id}/out/q${q}`, payload: `from-lin-q${q}`, qos: q });
        await js.publishAsync(`lin/${id}/in/q${q}`, `from-js-q${q}`, { qos: q as 0 | 1 | 2 });
      }
      for (const q of [0, 1, 2]) {
        await app.waitFor((e) => is("acked", id)(e) && e.qos === q, `ack of QoS ${q}`);
        await app.waitFor((e) => is("rx", id)(e) && e.topic === `lin/${id}/in/q${q}`, `rx QoS ${q}`);
      }
      await until("MQTT.js to receive all three", () => got.length >= 3, 10_000);
      assert.deepEqual(got.map((p) => [p.topic, String(p.payload), p.qos]).sort(), [0, 1, 2].map((q) => [`lin/${id}/out/q${q}`, `from-lin-q${q}`, q]));
      assert.deepEqual(app.events.filter(is("rx", id)).map((e) => e.payload).sort(), ["from-js-q0", "from-js-q1", "from-js-q2"]);
      app.send({ op: "close", id });
      const closed = await app.waitFor(is("closed", id), "onClose");
      assert.equal(closed.error, null, "close() reports no error (no override mistake on a frozen Error.prototype)");
      assert.deepEqual(app.events.filter((e) => e.ev === "error" || e.ev === "pubfail"), []);
    } finally {
      js.end(true);
      await app.stop();
    }
  });
}

for (const version of [4, 5] as const) {
  test(`lin runtime, MQTT ${version === 4 ? "3.1.1" : "5"}: persistent session (in-memory store): QoS 1 messages sent while offline arrive on reconnect with session present`, { skip }, async () => {
    const id = `ps${version}`;
    const options = { host: HOST, port: broker.port, clientId: `lin-${id}`, version, session: { clean: false, expiry: 300 } };
    const app = await start();
    const js = await peer(broker.port, { protocolVersion: version });
    try {
      app.send({ op: "client", id, options: { ...options, session: { clean: true } } });
      await app.waitFor(is("connected", id), "first CONNACK");
      app.send({ op: "close", id });
      await app.waitFor(is("closed", id), "first close");
      app.send({ op: "client", id: `${id}b`, options });
      await app.waitFor(is("connected", `${id}b`), "persistent CONNACK");
      app.send({ op: "sub", id: `${id}b`, filters: [`lin/${id}/#`], qos: 1 });
      await app.waitFor(is("subscribed", `${id}b`), "SUBACK");
      app.send({ op: "close", id: `${id}b` });
      await app.waitFor(is("closed", `${id}b`), "close of the persistent session");
      // Offline: the broker holds these for the session.
      await js.publishAsync(`lin/${id}/a`, "held-1", { qos: 1 });
      await js.publishAsync(`lin/${id}/a`, "held-2", { qos: 1 });
      app.send({ op: "client", id: `${id}c`, options });
      const again = await app.waitFor(is("connected", `${id}c`), "reconnect CONNACK");
      assert.equal(again.sessionPresent, true);
      await app.waitFor((e) => is("rx", `${id}c`)(e) && e.payload === "held-2", "the second held message");
      assert.deepEqual(app.events.filter(is("rx", `${id}c`)).map((e) => e.payload), ["held-1", "held-2"]);
      app.send({ op: "close", id: `${id}c` });
      await app.waitFor(is("closed", `${id}c`), "final close");
    } finally {
      js.end(true);
      await app.stop();
    }
  });
}

test("lin runtime: keep-alive: PINGREQs reach Mosquitto while the client is idle", { skip }, async () => {
  const app = await start();
  try {
    app.send({ op: "client", id: "ka", options: { host: HOST, port: broker.port, clientId: "lin-ka", version: 5, keepAlive: 1 } });
    await app.waitFor(is("connected", "ka"), "CONNACK");
    const pings = () => broker.log().filter((l) => l.includes("Received PINGREQ from lin-ka")).length;
    await until("two PINGREQs from lin-ka in Mosquitto's log", () => pings() >= 2, 15_000);
    app.send({ op: "close", id: "ka" });
    const closed = await app.waitFor(is("closed", "ka"), "close");
    assert.equal(closed.error, null);
  } finally {
    await app.stop();
  }
});

test("lin runtime: LWT: the will reaches MQTT.js when the process dies without a DISCONNECT", { skip }, async () => {
  const js = await peer(broker.port, { protocolVersion: 5 });
  const got = collect(js);
  await js.subscribeAsync("lin/will/#", { qos: 1 });
  const app = await start();
  try {
    app.send({ op: "client", id: "w", options: { host: HOST, port: broker.port, clientId: "lin-will", version: 4, keepAlive: 30, will: { topic: "lin/will/status", payload: "offline", qos: 1 } } });
    await app.waitFor(is("connected", "w"), "CONNACK");
    await app.stop("SIGKILL");
    await until("the will at MQTT.js", () => got.some((p) => p.topic === "lin/will/status"), 10_000);
    assert.equal(String(got.find((p) => p.topic === "lin/will/status")!.payload), "offline");
  } finally {
    js.end(true);
  }
});

test("lin runtime: shadow client against xsiot cloud: get, report, live delta", { skip }, async () => {
  const thing = "lin-shadow";
  const app = await start();
  try {
    app.send({ op: "client", id: "s", options: { host: HOST, port: cloud.ports.mqtt, clientId: thing, version: 5 } });
    app.send({ op: "shadow", id: "s", thing });
    const synced = await app.waitFor(is("synced", "s"), "shadow sync");
    assert.equal(synced.exists, false);
    app.send({ op: "report", id: "s", state: { interval: 60 } });
    await app.waitFor(is("reported", "s"), "report accepted");
    assert.equal((cloud.shadows.get(thing) as any).state.reported.interval, 60);
    await cloud.shadows.update(thing, "", { state: { desired: { interval: 30 } } });
    const delta = await app.waitFor(is("delta", "s"), "the delta");
    assert.equal(delta.value, 30);
    await until("the device's report of the applied delta", () => (cloud.shadows.get(thing) as any).state.reported.interval === 30, 10_000);
    assert.deepEqual(app.events.filter((e) => /fail|error/.test(e.ev)), []);
  } finally {
    await app.stop();
  }
});

test("lin runtime: jobs agent against xsiot cloud: a queued job runs and SUCCEEDS", { skip }, async () => {
  const thing = "lin-jobs";
  const jobId = `count-${Date.now().toString(36)}`;
  const app = await start();
  try {
    app.send({ op: "client", id: "j", options: { host: HOST, port: cloud.ports.mqtt, clientId: thing, version: 5 } });
    await app.waitFor(is("connected", "j"), "CONNACK (the cloud registers the thing on its first connection)");
    await cloud.jobs.createJob({ jobId, targets: [thing], document: { operation: "count", steps: 2 } });
    app.send({ op: "jobs", id: "j", thing });
    const ran = await app.waitFor(is("job", "j"), "the handler");
    assert.equal(ran.jobId, jobId);
    assert.equal(ran.steps, 2);
    await until("SUCCEEDED in the cloud", () => cloud.jobs.execution(jobId, thing)?.status === "SUCCEEDED", 10_000);
    assert.deepEqual(cloud.jobs.execution(jobId, thing)!.statusDetails, { step: "1", counted: "2" });
  } finally {
    await app.stop();
  }
});

// Mutual TLS through Moddable's own TLS stack (examples/io/tcp/tlssocket over modules/crypt/ssl,
// the JavaScript that runs on the ESP32) with certificates from tools/pki: an RSA-2048 client
// key in PKCS#8 (ssl_handshake.js certificateVerify signs only with RSA; etc/pkcs8.js parses
// only RSA keys) and a P-256 CA and server that carry Authority/Subject Key Identifiers.
test("lin runtime, mutual TLS (Moddable's tls_419) to xsiot cloud: the thing is known by its certificate's CN, QoS 1 publish acknowledged and received by the cloud", { skip }, async () => {
  const thing = "lin-mtls";
  const cert = await issueDeviceCert(cloud.pkiDir, thing);
  const got: { topic: string; payload: string }[] = [];
  const unsubscribe = await cloud.bus.subscribe(`dt/${thing}/#`, (m) => void got.push({ topic: m.topic, payload: m.payload.toString() }));
  const app = await start();
  try {
    const tls = { ca: cloud.caPem, certificate: cert.certPem, key: cert.keyPem };
    const t0 = Date.now();
    // The client id is not the thing name: the cloud must take the identity from the certificate.
    app.send({ op: "client", id: "m", options: { host: HOST, port: cloud.ports.mqtts, clientId: "lin-mtls-client-id", version: 5, tls } });
    await app.waitFor(is("connected", "m"), "CONNACK over mutual TLS", 60_000);
    const handshakeMs = Date.now() - t0;
    assert.ok(cloud.registry.get(thing), "the cloud registered the thing named by the certificate's CN");
    assert.equal(cloud.registry.get("lin-mtls-client-id"), undefined, "and not the client id");
    app.send({ op: "pub", id: "m", topic: `dt/${thing}/hello`, payload: "over-moddable-tls", qos: 1 });
    await app.waitFor((e) => is("acked", "m")(e) && e.qos === 1, "PUBACK over mutual TLS");
    await until("the cloud to receive the publish", () => got.length > 0, 10_000);
    assert.deepEqual(got, [{ topic: `dt/${thing}/hello`, payload: "over-moddable-tls" }]);
    // The policy follows the certificate's thing too: another thing's topic is refused (MQTT 5 PUBACK 0x87).
    app.send({ op: "pub", id: "m", topic: "dt/lin-mtls-client-id/x", payload: "no", qos: 1 });
    const refused = await app.waitFor(is("pubfail", "m"), "the refused publish");
    assert.match(refused.error, /0x87/);
    app.send({ op: "close", id: "m" });
    const closed = await app.waitFor(is("closed", "m"), "close");
    assert.equal(closed.error, null);
    assert.deepEqual(app.other, [], "no XS diagnostics or aborts");
    process.stdout.write(`# Moddable TLS (lin): mutual-TLS connect to CONNACK ${handshakeMs} ms (RSA-2048 client key, P-256 CA and server)\n`);
  } finally {
    await unsubscribe();
    await app.stop();
  }
});

test("lin runtime, mutual TLS (Moddable's tls_419) to Mosquitto, which sends its root with the leaf: connected as the certificate's CN, QoS 1 both ways", { skip }, async () => {
  const thing = "lin-mtls-m";
  const cert = await issueCertificate(mosquittoCa, { cn: thing, keyType: "rsa" });
  const js = await peer(tlsBroker.port, { protocolVersion: 4 });
  const got = collect(js);
  await js.subscribeAsync(`lin/${thing}/out`, { qos: 1 });
  const app = await start();
  try {
    const tls = { ca: mosquittoCa.certPem, certificate: cert.certPem, key: cert.keyPem };
    app.send({ op: "client", id: "mm", options: { host: HOST, port: tlsBroker.tlsPort, clientId: thing, version: 4, tls } });
    await app.waitFor(is("connected", "mm"), "CONNACK over mutual TLS", 60_000);
    app.send({ op: "sub", id: "mm", filters: [`lin/${thing}/in`], qos: 1 });
    await app.waitFor(is("subscribed", "mm"), "SUBACK");
    app.send({ op: "pub", id: "mm", topic: `lin/${thing}/out`, payload: "tls-up", qos: 1 });
    await js.publishAsync(`lin/${thing}/in`, "tls-down", { qos: 1 });
    await app.waitFor((e) => is("acked", "mm")(e) && e.qos === 1, "PUBACK");
    const rx = await app.waitFor(is("rx", "mm"), "the message from MQTT.js");
    assert.equal(rx.payload, "tls-down");
    await until("MQTT.js to receive the publish", () => got.length > 0, 10_000);
    assert.equal(String(got[0].payload), "tls-up");
    // use_identity_as_username: Mosquitto names the client by the certificate's CN.
    assert.ok(tlsBroker.log().some((l) => new RegExp(`New client connected from .* as ${thing} .*u'${thing}'`).test(l)), tlsBroker.log().join("\n"));
    app.send({ op: "close", id: "mm" });
    await app.waitFor(is("closed", "mm"), "close");
    assert.deepEqual(app.other, [], "no XS diagnostics or aborts");
  } finally {
    js.end(true);
    await app.stop();
  }
});

test("lin runtime: a P-256 client key aborts Moddable's TLS mid-handshake (etc/pkcs8.js parses only RSA keys: \"BER: not an integer\", ber.js:85), so device and claim certificates from tools/pki are RSA", { skip }, async () => {
  const cert = await issueCertificate(mosquittoCa, { cn: "lin-p256", keyType: "ec" });
  const app = await start();
  try {
    const tls = { ca: mosquittoCa.certPem, certificate: cert.certPem, key: cert.keyPem };
    app.send({ op: "client", id: "ec", options: { host: HOST, port: tlsBroker.tlsPort, clientId: "lin-p256", version: 4, tls } });
    await assert.rejects(app.waitFor(is("connected", "ec"), "CONNACK", 30_000), /ber\.js:85/);
  } finally {
    await app.stop("SIGKILL");
  }
});

// Moddable's ssl_cert.js verify() as read in 8.2.3, for a chain [leaf, root] (what OpenSSL-based
// servers send): it checks the leaf's signature against the next certificate, then that
// certificate against the trusted one found by its Authority Key Identifier; when a check fails
// it falls through to checking only the LAST certificate of the chain against the trusted ones,
// and returns the subjectAltName match computed for the leaf.
// (1) Why tools/pki signs again until r and s are full length: _verify() (line ~261) joins
// ArrayBuffer.fromBigInt(r) and ArrayBuffer.fromBigInt(s), minimal length each, and ecdsa.js
// splits the result at 32 bytes, so a valid signature never verifies when r is short (1 in 256; a short s happens to survive). On the root's self-signature
// that refuses the chain (on the leaf's it is masked by (2)).
// r of a DER ECDSA-Sig-Value shorter than 32 bytes (a short s survives: ecdsa.js reads s as
// whatever follows the first 32 bytes).
function shortR(sig: Uint8Array): boolean {
  let len = sig[3];
  let i = 4;
  while (len > 0 && sig[i] === 0) (i++, len--);
  return len < 32;
}
async function shortSignatureCa(): Promise<Ca> {
  const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as { publicKey: CryptoKey; privateKey: CryptoKey };
  for (let tries = 1; ; tries++) {
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: tries.toString(16).padStart(8, "0"),
      name: "CN=short signature CA",
      notBefore: new Date(Date.now() - 86_400_000),
      notAfter: new Date(Date.now() + 86_400_000),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    if (shortR(new Uint8Array(cert.signature))) {
      assert.ok(await cert.verify({ signatureOnly: true }), "the signature is valid");
      return { certPem: cert.toString("pem"), cert, key: keys.privateKey };
    }
    assert.ok(tries < 5000, "no short signature in 5000 tries");
  }
}

test("lin runtime: Moddable's TLS refuses a CA whose valid ECDSA self-signature has an r shorter than 32 bytes (ssl_cert.js:261), so tools/pki never issues one", { skip }, async () => {
  const ca = await shortSignatureCa();
  const server = await issueCertificate(ca, { cn: HOST, usage: "server", ips: [HOST] });
  const shortSig = await startMosquitto({ tls: { caPem: ca.certPem, certPem: server.certPem, keyPem: server.keyPem } });
  const cert = await issueCertificate(ca, { cn: "lin-short-sig", keyType: "rsa" });
  const app = await start();
  try {
    const tls = { ca: ca.certPem, certificate: cert.certPem, key: cert.keyPem };
    app.send({ op: "client", id: "ss", options: { host: HOST, port: shortSig.tlsPort, clientId: "lin-short-sig", version: 4, tls } });
    // "certificate: auth err" is thrown inside the socket callback: XS aborts the whole machine.
    await assert.rejects(app.waitFor(is("connected", "ss"), "CONNACK", 30_000), /ssl_handshake\.js:492/);
    assert.equal(shortSig.log().some((l) => /New client connected .* as lin-short-sig/.test(l)), false);
  } finally {
    await app.stop("SIGKILL");
    await shortSig.stop();
  }
});

// (2) The fall-through: a server certificate signed by a key the client does not trust, sent
// with the trusted root appended, is accepted (only the root is then checked). Recorded here
// as a fact about Moddable 8.2.3, not relied on: a device that trusts tools/pki's CA can be
// impersonated by anyone holding that CA's public certificate.
test("lin runtime: Moddable 8.2.3's TLS accepts a server certificate from an untrusted issuer when the trusted root is appended to the chain (ssl_cert.js verify() fall-through)", { skip }, async () => {
  const rogue = (await createCaInMemory({ cn: "rogue CA" })).ca;
  const forged = await issueCertificate(rogue, { cn: HOST, usage: "server", ips: [HOST] });
  const mitm = await startMosquitto({ tls: { caPem: mosquittoCa.certPem, certPem: `${forged.certPem.trim()}\n${mosquittoCa.certPem.trim()}\n`, keyPem: forged.keyPem } });
  const cert = await issueCertificate(mosquittoCa, { cn: "lin-forged", keyType: "rsa" });
  const app = await start();
  try {
    const tls = { ca: mosquittoCa.certPem, certificate: cert.certPem, key: cert.keyPem };
    app.send({ op: "client", id: "f", options: { host: HOST, port: mitm.tlsPort, clientId: "lin-forged", version: 4, tls } });
    const outcome = await app.waitFor((e) => (e.ev === "connected" || e.ev === "closed") && e.id === "f", "the outcome", 30_000).catch((e: Error) => ({ ev: "aborted", error: e.message }));
    process.stdout.write(`# Moddable TLS (lin) with a forged server certificate + the trusted root: ${outcome.ev}\n`);
    assert.equal(outcome.ev, "connected", "if this fails, Moddable now refuses the forged chain: drop this note");
  } finally {
    await app.stop("SIGKILL");
    await mitm.stop();
  }
});
