// The HTTPS data plane and the SDK's HTTPS uplink: the reference firmware in its
// "https" mode on the virtual ESP32 posts its batches over mutual TLS, and the
// cloud's doors hold (no certificate, another thing's topic, a bad qos).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import { issueDeviceCert } from "../../tools/pki/index.ts";
import { buildApp } from "../../tools/sim/image.ts";
import { parseScenario } from "../../tools/sim/scenario.ts";
import { DEFAULT_SCENARIO } from "../../tools/energy/index.ts";
import { makeDevice } from "../sim/helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "xsiot-https-"));
let cloud: Cloud;
before(async () => {
  cloud = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, httpsPort: 0, log: silentLogger, writeStateFile: false });
});
after(async () => {
  await cloud.close();
  rmSync(dir, { recursive: true, force: true });
});

function post(path: string, body: string, cert?: { certPem: string; keyPem: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const q = request(
      { host: "127.0.0.1", port: cloud.ports.https, method: "POST", path, ca: cloud.caPem, cert: cert?.certPem, key: cert?.keyPem, checkServerIdentity: () => undefined },
      (res) => {
        let b = "";
        res.on("data", (d) => (b += d));
        res.on("end", () => resolve({ status: res.statusCode!, body: b }));
      },
    );
    q.on("error", reject);
    q.end(body);
  });
}

test("doors: no client certificate is refused at the handshake; another thing's topic is 403; a bad qos is 400; its own topic is 200 and reaches subscribers", async () => {
  const a = await issueDeviceCert(cloud.pkiDir, "https-a");
  await assert.rejects(post("/topics/dt%2Fhttps-a%2Ftelemetry?qos=1", "{}"));
  assert.equal((await post("/topics/dt%2Fhttps-b%2Ftelemetry?qos=1", "{}", a)).status, 403);
  assert.equal((await post("/topics/dt%2Fhttps-a%2Ftelemetry?qos=2", "{}", a)).status, 400);
  const got = new Promise<string>((resolve) => void cloud.bus.subscribe("dt/https-a/telemetry", (m) => resolve(m.payload.toString())));
  const ok = await post("/topics/dt%2Fhttps-a%2Ftelemetry?qos=1", '{"r":[]}', a);
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse(ok.body).message, "OK");
  assert.equal(await got, '{"r":[]}');
});

test("the reference firmware in https mode: every reading reaches the cloud in order, one POST per batch", async () => {
  const thing = "https-node";
  const cert = await issueDeviceCert(cloud.pkiDir, thing);
  const seqs: number[] = [];
  await cloud.bus.subscribe(`dt/${thing}/telemetry`, (m) => {
    for (const row of (JSON.parse(m.payload.toString()) as { r: number[][] }).r) seqs.push(row[0]);
  });
  const { device, events } = makeDevice(buildApp(new URL("../../firmware", import.meta.url).pathname), {
    name: thing,
    scenario: parseScenario(DEFAULT_SCENARIO, "<default energy scenario>"),
    deviceConfig: {
      mode: "https",
      cloud: { host: "127.0.0.1", port: cloud.ports.mqtt, tlsPort: cloud.ports.mqtts, httpsPort: cloud.ports.https, caPem: cloud.caPem },
      identity: { thingName: thing, certificate: cert.certPem, key: cert.keyPem },
    },
  });
  try {
    await device.run(13 * 3_600_000);
  } finally {
    device.shutdown();
  }
  const uplinks = events.filter((e) => e.type === "log" && String(e.text).includes('"ev":"uplink"')).map((e) => JSON.parse(String(e.text)));
  assert.ok(uplinks.length >= 3 && uplinks.every((u) => u.ok), JSON.stringify(uplinks));
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1));
  assert.ok(seqs.length >= 49, `${seqs.length} readings`);
  // Every socket the node opened was TLS to the HTTPS port: no MQTT connection at all.
  const opens = events.filter((e) => e.type === "socket-open");
  assert.ok(opens.length >= 3 && opens.every((e) => e.port === cloud.ports.https && e.tls), JSON.stringify(opens.slice(0, 3)));
});
