// Policy: a thing may use only its own $aws/things/<name>/ topics and its app topics.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { issueDeviceCert } from "../../tools/pki/index.ts";
import type { Cloud } from "../../tools/cloud/index.ts";
import { Device, tempDir, testCloud } from "./helpers.ts";

const tmp = tempDir();
let cloud: Cloud;
before(async () => {
  cloud = await testCloud({ dir: tmp.dir });
});
after(async () => {
  await cloud.close();
  tmp.cleanup();
});

test("v5: foreign SUBSCRIBE gets 0x87, foreign PUBLISH gets PUBACK 0x87, own topics work", async () => {
  const a = await Device.connect(cloud.url, { clientId: "alice", protocolVersion: 5 });
  const granted = await a.client.subscribeAsync(["$aws/things/alice/shadow/#", "dt/alice/#"], { qos: 1 });
  assert.deepEqual(granted.map((g) => g.qos), [1, 1]);
  for (const filter of ["$aws/things/bob/shadow/update/accepted", "$aws/things/+/shadow/#", "#", "dt/bob/x"]) {
    await assert.rejects(a.client.subscribeAsync(filter, { qos: 1 }), (e: any) => e.packet?.granted?.[0] === 0x87, filter);
  }
  await assert.rejects(a.client.publishAsync("$aws/things/bob/shadow/update", "{}", { qos: 1 }), (e: any) => /Not authorized/i.test(e.message) && e.code === 0x87);
  assert.equal(a.client.connected, true, "v5 client stays connected after a refused publish");
  const own = a.next("dt/alice/temp");
  await a.client.publishAsync("dt/alice/temp", "21.5", { qos: 1 });
  assert.equal((await own).topic, "dt/alice/temp");
  await a.end();
});

test("v3.1.1: foreign SUBSCRIBE gets 0x80, foreign PUBLISH disconnects", async () => {
  const b = await Device.connect(cloud.url, { clientId: "bob", protocolVersion: 4 });
  await assert.rejects(b.client.subscribeAsync("$aws/things/alice/shadow/#", { qos: 1 }), (e: any) => e.packet?.granted?.[0] === 0x80);
  const closed = new Promise<void>((r) => b.client.once("close", () => r()));
  b.client.publish("$aws/things/alice/shadow/update", JSON.stringify({ state: { desired: { x: 1 } } }), { qos: 1 });
  await closed;
  await b.end();
  // Barrier: alice's own update, sent after bob's connection closed, is answered; bob's
  // refused one would have been handled first (the shadow would hold desired.x, version 2).
  const a = await Device.connect(cloud.url, { clientId: "alice", protocolVersion: 4 });
  await a.client.subscribeAsync("$aws/things/alice/shadow/update/+", { qos: 1 });
  const res = await a.request("$aws/things/alice/shadow/update", { state: { reported: { y: 1 } } });
  assert.equal(res.topic, "$aws/things/alice/shadow/update/accepted");
  const doc = cloud.shadows.get("alice") as { state: { desired?: unknown }; version: number };
  assert.equal(doc.state.desired, undefined, "the refused update never reached the shadow service");
  assert.equal(doc.version, 1);
  await a.end();
});

test("mTLS: the certificate CN is the identity, not the client id", async () => {
  const cert = await issueDeviceCert(cloud.pkiDir, "carol");
  const c = await Device.connect(cloud.tlsUrl!, {
    clientId: "alice",
    protocolVersion: 5,
    ca: cloud.caPem,
    cert: cert.certPem,
    key: cert.keyPem,
    servername: "localhost",
  });
  await c.client.subscribeAsync("$aws/things/carol/shadow/#", { qos: 1 });
  await assert.rejects(c.client.subscribeAsync("$aws/things/alice/shadow/#", { qos: 1 }), (e: any) => e.packet?.granted?.[0] === 0x87);
  const res = await c.request("$aws/things/carol/shadow/update", { state: { reported: { ok: true } } });
  assert.equal(res.topic, "$aws/things/carol/shadow/update/accepted");
  await c.end();
  assert.ok(cloud.registry.get("carol"), "carol registered on first connect");
});

test("mTLS: a client without a certificate is refused", async () => {
  const client = mqtt.connect(cloud.tlsUrl!, { clientId: "dave", ca: cloud.caPem, servername: "localhost", reconnectPeriod: 0, connectTimeout: 2000 });
  const err = await new Promise<Error | undefined>((r) => {
    client.once("connect", () => r(undefined));
    client.once("error", r);
    client.once("close", () => r(new Error("closed")));
  });
  client.end(true);
  assert.ok(err, "connection must fail");
});

test("plain listener: an invalid thing name as client id is refused at CONNECT", async () => {
  await assert.rejects(mqtt.connectAsync(cloud.url, { clientId: "not/a/thing", protocolVersion: 5, reconnectPeriod: 0 }));
});
