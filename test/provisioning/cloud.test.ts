// Fleet provisioning, cloud side, with MQTT.js devices over mutual TLS: the AWS
// contract, private answers, the claim policy, one-time tokens, unknown serials.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { createCsr, issueClaimCert, type IssuedFiles } from "../../tools/pki/index.ts";
import type { Cloud } from "../../tools/cloud/index.ts";
import type { ProvisioningService } from "../../tools/cloud/provisioning.ts";
import { Device, tempDir, testCloud } from "../cloud/helpers.ts";

const tmp = tempDir();
let cloud: Cloud;
let claim: IssuedFiles;
let prov: ProvisioningService;
const CREATE = "$aws/certificates/create/json";
const CSR = "$aws/certificates/create-from-csr/json";
const PROVISION = "$aws/provisioning-templates/sensors/provision/json";
const RESPONSES = [CREATE, CSR, PROVISION].flatMap((t) => [`${t}/accepted`, `${t}/rejected`]);

before(async () => {
  cloud = await testCloud({ dir: tmp.dir });
  claim = await issueClaimCert(cloud.pkiDir, "factory");
  prov = cloud.service<ProvisioningService>("provisioning")!;
  prov.putTemplate({ templateName: "sensors", serials: ["SN-1", "SN-2", "SN-3"], serialPattern: "LOT7-[0-9]{4}", thingNamePattern: "sensor-${SerialNumber}", attributes: { board: "${board}", fleet: "f1" } });
});
after(async () => {
  await cloud.close();
  tmp.cleanup();
});

function tlsOpts(cert: string, key: string, clientId: string, version: 4 | 5 = 5): mqtt.IClientOptions {
  return { clientId, protocolVersion: version, ca: cloud.caPem, cert, key, servername: "localhost" };
}
async function claimDevice(serial: string, version: 4 | 5 = 5): Promise<Device> {
  const d = await Device.connect(cloud.tlsUrl!, tlsOpts(claim.certPem, claim.keyPem, serial, version));
  const granted = await d.client.subscribeAsync(RESPONSES, { qos: 1 });
  assert.ok(granted.every((g) => g.qos === 1), "a claim may subscribe to the answers");
  return d;
}
async function tlsRefused(opts: mqtt.IClientOptions): Promise<boolean> {
  const client = mqtt.connect(cloud.tlsUrl!, { ...opts, reconnectPeriod: 0, connectTimeout: 3000 });
  const err = await new Promise<Error | undefined>((r) => {
    client.once("connect", () => r(undefined));
    client.once("error", r);
    client.once("close", () => r(new Error("closed")));
  });
  client.end(true);
  return !!err;
}

test("create -> provision over mTLS; the answer reaches only the requester; the new certificate is the thing", async () => {
  const a = await claimDevice("SN-1");
  const b = await claimDevice("SN-2");
  const created = await a.request(CREATE, "");
  assert.equal(created.topic, `${CREATE}/accepted`);
  const { certificateId, certificatePem, privateKey, certificateOwnershipToken } = created.json;
  assert.match(certificateId, /^[0-9a-f]{64}$/);
  assert.match(certificatePem, /BEGIN CERTIFICATE/);
  assert.match(privateKey, /BEGIN PRIVATE KEY/);
  assert.ok(typeof certificateOwnershipToken === "string" && certificateOwnershipToken.length >= 32);
  await b.roundTrip();
  assert.deepEqual(b.messages, [], "the second claim device saw nothing of the first's answer (and its private key)");

  // Not yet provisioned: the certificate is refused.
  assert.ok(await tlsRefused(tlsOpts(certificatePem, privateKey, "sensor-SN-1")), "a pending certificate cannot connect");

  // Another device cannot use A's token (it is bound to A's connection).
  const stolen = await b.request(PROVISION, { certificateOwnershipToken, parameters: { SerialNumber: "SN-2" } });
  assert.equal(stolen.topic, `${PROVISION}/rejected`);
  assert.equal(stolen.json.errorCode, "InvalidCertificateOwnershipToken");

  const done = await a.request(PROVISION, { certificateOwnershipToken, parameters: { SerialNumber: "SN-1", board: "esp-wroom-32" } });
  assert.equal(done.topic, `${PROVISION}/accepted`, JSON.stringify(done.json));
  assert.deepEqual(done.json, { thingName: "sensor-SN-1", deviceConfiguration: {} });
  assert.deepEqual(cloud.registry.get("sensor-SN-1")?.attributes, { board: "esp-wroom-32", fleet: "f1" });
  assert.equal(cloud.registry.certificate(certificateId)?.status, "ACTIVE");
  await b.roundTrip();
  const seenByB = b.messages as { topic: string; payload: string }[];
  assert.deepEqual(seenByB.map((m) => m.topic), [`${PROVISION}/rejected`], "B saw only its own answer");
  assert.ok(!seenByB.some((m) => m.payload.includes("PRIVATE KEY") || m.payload.includes(certificateOwnershipToken)));

  const replay = await a.request(PROVISION, { certificateOwnershipToken, parameters: { SerialNumber: "SN-1" } });
  assert.equal(replay.json.errorCode, "InvalidCertificateOwnershipToken", "the token is single-use");

  // The new certificate connects as the thing, whatever client id it uses, and may use only its topics.
  const thing = await Device.connect(cloud.tlsUrl!, tlsOpts(certificatePem, privateKey, "anything"));
  await thing.client.subscribeAsync("dt/sensor-SN-1/#", { qos: 1 });
  const echo = thing.next("dt/sensor-SN-1/hello");
  await thing.client.publishAsync("dt/sensor-SN-1/hello", "\"hi\"", { qos: 1 });
  await echo;
  await assert.rejects(thing.client.publishAsync("dt/sensor-SN-2/hello", "x", { qos: 1 }), (e: any) => e.code === 0x87);
  await Promise.all([a.end(), b.end(), thing.end()]);
});

test("create-from-csr: the device keeps its key; an unknown serial is rejected with an AWS-shaped error", async () => {
  const d = await claimDevice("LOT7-0042", 4);
  const { csrPem, keyPem } = await createCsr("ignored");
  const res = await d.request(CSR, { certificateSigningRequest: csrPem });
  assert.equal(res.topic, `${CSR}/accepted`);
  assert.equal(res.json.privateKey, undefined);
  const ok = await d.request(PROVISION, { certificateOwnershipToken: res.json.certificateOwnershipToken, parameters: { SerialNumber: "LOT7-0042", board: "devkitc" } });
  assert.equal(ok.json.thingName, "sensor-LOT7-0042", JSON.stringify(ok.json));
  const thing = await Device.connect(cloud.tlsUrl!, tlsOpts(res.json.certificatePem, keyPem, "x"));
  await thing.client.publishAsync("$aws/things/sensor-LOT7-0042/shadow/update", JSON.stringify({ state: { reported: { up: 1 } } }), { qos: 1 });
  await thing.end();

  const bad = await d.request(CSR, { certificateSigningRequest: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----" });
  assert.equal(bad.topic, `${CSR}/rejected`);
  assert.equal(bad.json.statusCode, 400);

  const c2 = await d.request(CREATE, "");
  const unknown = await d.request(PROVISION, { certificateOwnershipToken: c2.json.certificateOwnershipToken, parameters: { SerialNumber: "EVIL-1" } });
  assert.equal(unknown.topic, `${PROVISION}/rejected`);
  assert.deepEqual(Object.keys(unknown.json).sort(), ["errorCode", "errorMessage", "statusCode"]);
  assert.equal(unknown.json.statusCode, 403);
  assert.equal(unknown.json.errorCode, "AccessDenied");
  assert.match(unknown.json.errorMessage, /EVIL-1.*not allowed/);
  assert.equal(cloud.registry.certificate(c2.json.certificateId)?.status, "PENDING_ACTIVATION", "a rejected device's certificate stays unusable");
  assert.equal(cloud.registry.get("sensor-EVIL-1"), undefined);
  const notJson = await d.request(PROVISION, "{nope");
  assert.equal(notJson.json.errorCode, "InvalidPayload");
  const noTemplate = await d.request("$aws/provisioning-templates/nope/provision/json", { certificateOwnershipToken: "x", parameters: {} });
  assert.equal(noTemplate.json.statusCode, 404);
  await d.end();
});

test("claim policy: no thing topics, no request subscriptions, no forged answers", async () => {
  const d = await claimDevice("SN-3");
  const other = await claimDevice("SN-2");
  await assert.rejects(d.client.publishAsync("dt/sensor-SN-1/x", "x", { qos: 1 }), (e: any) => e.code === 0x87, "thing app topic");
  await assert.rejects(d.client.publishAsync("$aws/things/sensor-SN-1/shadow/update", "{}", { qos: 1 }), (e: any) => e.code === 0x87, "thing shadow");
  await assert.rejects(d.client.publishAsync(`${CREATE}/accepted`, "{}", { qos: 1 }), (e: any) => e.code === 0x87, "forged answer");
  for (const f of [CREATE, "$aws/provisioning-templates/+/provision/json", "$aws/things/sensor-SN-1/#", "#"])
    await assert.rejects(d.client.subscribeAsync(f, { qos: 1 }), (e: any) => e.packet?.granted?.[0] === 0x87, f);
  await other.roundTrip();
  assert.deepEqual(other.messages, []);
  await Promise.all([d.end(), other.end()]);
});

test("templates over HTTP: create, read, list, refuse a template that accepts any serial, delete", async () => {
  const post = (body: unknown) => fetch(`${cloud.httpUrl}/provisioning-templates`, { method: "POST", body: JSON.stringify(body) });
  let r = await post({ templateName: "lab", serials: ["A1"], thingNamePattern: "lab-${SerialNumber}" });
  assert.equal(r.status, 201);
  r = await post({ templateName: "open" });
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as any).message, /serials/);
  r = await post({ templateName: "bad", serialPattern: "(" });
  assert.equal(r.status, 400);
  assert.equal(((await (await fetch(`${cloud.httpUrl}/provisioning-templates/lab`)).json()) as any).thingNamePattern, "lab-${SerialNumber}");
  const list = (await (await fetch(`${cloud.httpUrl}/provisioning-templates`)).json()) as any;
  assert.ok(list.templates.some((t: { templateName: string }) => t.templateName === "lab"));
  assert.equal((await fetch(`${cloud.httpUrl}/provisioning-templates/lab`, { method: "DELETE" })).status, 200);
  assert.equal((await fetch(`${cloud.httpUrl}/provisioning-templates/lab`)).status, 404);
});

test("CLI: xsiot provision template <name> --serials/--serial-pattern/--thing-name/--attr against the running cloud", async () => {
  const { run } = await import("../../tools/cli/commands/provision.ts");
  const quiet = console.log;
  console.log = () => {};
  try {
    assert.equal(await run(["template", "cli", "--serials", "A1, A2", "--thing-name", "node-${SerialNumber}", "--attr", "site=lab", "--cloud", cloud.httpUrl]), 0);
    assert.equal(await run(["template", "rx", "--serial-pattern", "B[0-9]+", "--cloud", cloud.httpUrl]), 0);
    assert.equal(await run(["templates", "--cloud", cloud.httpUrl]), 0);
    assert.equal(await run(["template", "cli", "--attr", "nope", "--cloud", cloud.httpUrl]), 2);
  } finally {
    console.log = quiet;
  }
  assert.deepEqual(prov.getTemplate("cli"), { templateName: "cli", enabled: true, serials: ["A1", "A2"], thingNamePattern: "node-${SerialNumber}", attributes: { site: "lab" } });
  assert.equal(prov.getTemplate("rx")?.serialPattern, "B[0-9]+");
  assert.equal(prov.getTemplate("rx")?.thingNamePattern, "${SerialNumber}");
  assert.equal(await run(["template", "rx", "--delete", "--cloud", cloud.httpUrl]), 0);
  assert.equal(prov.getTemplate("rx"), undefined);
});

test("no active orphans: re-provisioning a thing deactivates its old certificate and closes its connection; unused certificates expire; a deleted thing's certificate stops working", async () => {
  const serial = "LOT7-0100";
  const thing = `sensor-${serial}`;
  const d = await claimDevice(serial);
  const provisionNew = async () => {
    const c = await d.request(CREATE, "");
    const p = await d.request(PROVISION, { certificateOwnershipToken: c.json.certificateOwnershipToken, parameters: { SerialNumber: serial, board: "b" } });
    assert.equal(p.topic, `${PROVISION}/accepted`, JSON.stringify(p.json));
    return c.json as { certificateId: string; certificatePem: string; privateKey: string };
  };
  const status = (id: string) => cloud.registry.certificate(id)?.status;

  // The first certificate is activated and in use; the device then loses it (a power cut
  // before its commit) and starts again: a certificate it abandons, then a new one.
  const first = await provisionNew();
  const old = await Device.connect(cloud.tlsUrl!, tlsOpts(first.certificatePem, first.privateKey, "x"));
  const oldClosed = new Promise<void>((r) => old.client.once("close", () => r()));
  const abandoned = (await d.request(CREATE, "")).json.certificateId as string;
  assert.equal(status(abandoned), "PENDING_ACTIVATION");
  const second = await provisionNew();
  assert.equal(status(second.certificateId), "ACTIVE");
  assert.equal(status(first.certificateId), "INACTIVE", "one certificate per thing: the earlier one is deactivated");
  assert.equal(status(abandoned), "INACTIVE", "what the same device created and never provisioned is deactivated");
  assert.match(cloud.registry.certificate(first.certificateId)!.deactivated!.reason, /superseded/);
  await oldClosed; // its live connection is closed, not only future ones refused
  await old.end();
  assert.ok(await tlsRefused(tlsOpts(first.certificatePem, first.privateKey, "x")), "the deactivated certificate is refused");
  const live = await Device.connect(cloud.tlsUrl!, tlsOpts(second.certificatePem, second.privateKey, "x"));
  const liveClosed = new Promise<void>((r) => live.client.once("close", () => r()));

  // A certificate awaiting activation past its token's hour becomes INACTIVE, and its token is dead.
  const late = (await d.request(CREATE, "")).json as { certificateId: string; certificateOwnershipToken: string };
  assert.equal(prov.expirePending(Date.now() + 59 * 60_000), 0, "not before the hour");
  assert.ok(prov.expirePending(Date.now() + 61 * 60_000) >= 1);
  assert.equal(status(late.certificateId), "INACTIVE");
  const refused = await d.request(PROVISION, { certificateOwnershipToken: late.certificateOwnershipToken, parameters: { SerialNumber: serial, board: "b" } });
  assert.equal(refused.json.errorCode, "InvalidCertificateOwnershipToken");
  assert.equal(status(second.certificateId), "ACTIVE", "an active certificate never expires by time alone (its device may sleep for months)");

  // Deleting the thing deactivates its certificate (an ACTIVE one would bring the thing back on connect).
  assert.ok(cloud.registry.delete(thing));
  assert.equal(status(second.certificateId), "INACTIVE");
  await liveClosed; // and its live connection is closed
  await live.end();
  assert.ok(await tlsRefused(tlsOpts(second.certificatePem, second.privateKey, "x")));
  assert.equal(cloud.registry.get(thing), undefined);
  assert.deepEqual(cloud.registry.certificates().filter((c) => c.status === "ACTIVE" && (!c.thingName || !cloud.registry.get(c.thingName))), [], "no active certificate without a thing");
  await d.end();
});

test("no active orphans across a restart: certificates awaiting activation are deactivated (their tokens were in memory)", async () => {
  const t2 = tempDir();
  try {
    let c2 = await testCloud({ dir: t2.dir });
    const claim2 = await issueClaimCert(c2.pkiDir, "factory");
    const d = await Device.connect(c2.tlsUrl!, { ...tlsOpts(claim2.certPem, claim2.keyPem, "SN-1"), ca: c2.caPem });
    await d.client.subscribeAsync(RESPONSES, { qos: 1 });
    const pending = (await d.request(CREATE, "")).json.certificateId as string;
    await d.end();
    assert.equal(c2.registry.certificate(pending)?.status, "PENDING_ACTIVATION");
    await c2.close();
    c2 = await testCloud({ dir: t2.dir });
    try {
      assert.equal(c2.registry.certificate(pending)?.status, "INACTIVE");
    } finally {
      await c2.close();
    }
  } finally {
    t2.cleanup();
  }
});
