// Nothing open by accident (issue 13 item 6): a cloud on a network address, tried from
// outside the rules at each door — the plain MQTT port, a foreign client id, another
// thing's topics, the HTTP API without its token. Binds to a non-loopback address of
// this machine (os.networkInterfaces); skips with the reason when there is none.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect, type AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import mqtt from "mqtt";
import { issueDeviceCert } from "../../tools/pki/index.ts";
import type { Cloud } from "../../tools/cloud/index.ts";
import { Device, tempDir, testCloud } from "./helpers.ts";

const address = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === "IPv4")?.address;
const skip = address ? false : "this machine has no non-loopback IPv4 address to bind to";

/** A port free right now on the address (the OS picks it; never a fixed number). */
async function freePort(host: string): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, host, () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
function tcpRefused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once("connect", () => (s.destroy(), resolve(false)));
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
  });
}
/** CONNACK reason of a connection attempt (0 = accepted). */
async function connack(url: string, opts: mqtt.IClientOptions): Promise<number> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  try {
    return await new Promise<number>((resolve, reject) => {
      client.once("connect", () => resolve(0));
      client.once("error", (e: Error & { code?: number }) => (typeof e.code === "number" ? resolve(e.code) : reject(e)));
    });
  } finally {
    client.end(true);
  }
}

const tmpOff = tempDir();
const tmpOn = tempDir();
let off: Cloud; // --host <address>
let on: Cloud; // --host <address> --plain-mqtt
let offPlainPort = 0;

before(async () => {
  if (!address) return;
  offPlainPort = await freePort(address);
  off = await testCloud({ dir: tmpOff.dir, host: address, port: offPlainPort });
  on = await testCloud({ dir: tmpOn.dir, host: address, plainMqtt: true });
});
after(async () => {
  await off?.close();
  await on?.close();
  tmpOff.cleanup();
  tmpOn.cleanup();
});

test("on a network address the plain MQTT listener is off unless asked for", { skip }, async () => {
  assert.equal(off.ports.mqtt, undefined);
  assert.ok(await tcpRefused(address!, offPlainPort), `nothing listens on the plain port ${offPlainPort} it was given`);
  assert.match(off.url, /^mqtts:\/\//, "the broker's address is its mTLS one");
  assert.ok(on.ports.mqtt, "asked for: on");
});

test("plain listener off loopback: a client id alone, a wrong password, a foreign client id, an unregistered thing are all refused", { skip }, async () => {
  on.registry.create("alice");
  on.registry.create("bob");
  const alicePw = await (await fetch(`${on.httpUrl}/things/alice/mqtt-password`, { method: "POST", headers: { authorization: `Bearer ${on.token}` } })).json() as { username: string; password: string };
  assert.equal(alicePw.username, "alice");
  for (const v of [4, 5] as const) {
    const bad = v === 4 ? 4 : 0x86; // bad user name or password
    assert.equal(await connack(on.url, { protocolVersion: v, clientId: "alice" }), bad, `v${v}: client id alone`);
    assert.equal(await connack(on.url, { protocolVersion: v, clientId: "alice", username: "alice", password: "guess" }), bad, `v${v}: wrong password`);
    assert.equal(await connack(on.url, { protocolVersion: v, clientId: "bob", username: "alice", password: alicePw.password }), bad, `v${v}: alice's credentials under bob's client id`);
    assert.equal(await connack(on.url, { protocolVersion: v, clientId: "bob", username: "bob", password: alicePw.password }), bad, `v${v}: alice's password for bob`);
    assert.equal(await connack(on.url, { protocolVersion: v, clientId: "mallory", username: "mallory", password: alicePw.password }), bad, `v${v}: unregistered`);
    assert.equal(await connack(on.url, { protocolVersion: v, clientId: "alice", username: "alice", password: alicePw.password }), 0, `v${v}: alice's own credentials`);
  }
  assert.equal(on.registry.get("mallory"), undefined, "no thing registered by a refused connection");
});

test("plain listener off loopback: with its own credentials a thing still cannot use another thing's topics", { skip }, async () => {
  on.registry.create("carol");
  on.registry.create("dave");
  const pw = (await (await fetch(`${on.httpUrl}/things/carol/mqtt-password`, { method: "POST", headers: { authorization: `Bearer ${on.token}` } })).json() as { password: string }).password;
  const carol = await Device.connect(on.url, { protocolVersion: 5, clientId: "carol", username: "carol", password: pw });
  await assert.rejects(carol.client.subscribeAsync("$aws/things/dave/shadow/#", { qos: 1 }), (e: any) => e.packet?.granted?.[0] === 0x87);
  await assert.rejects(carol.client.publishAsync("$aws/things/dave/shadow/update", JSON.stringify({ state: { desired: { x: 1 } } }), { qos: 1 }), (e: any) => e.code === 0x87);
  await assert.rejects(carol.client.publishAsync("dt/dave/t", "1", { qos: 1 }), (e: any) => e.code === 0x87);
  await carol.client.subscribeAsync("$aws/things/carol/shadow/update/+", { qos: 1 });
  const own = await carol.request("$aws/things/carol/shadow/update", { state: { reported: { ok: 1 } } });
  assert.equal(own.topic, "$aws/things/carol/shadow/update/accepted");
  await carol.end();
  assert.throws(() => on.shadows.get("dave"), /No shadow/, "dave's shadow untouched");

  // A new password replaces the old one.
  const pw2 = (await (await fetch(`${on.httpUrl}/things/carol/mqtt-password`, { method: "POST", headers: { authorization: `Bearer ${on.token}` } })).json() as { password: string }).password;
  assert.equal(await connack(on.url, { protocolVersion: 5, clientId: "carol", username: "carol", password: pw }), 0x86);
  assert.equal(await connack(on.url, { protocolVersion: 5, clientId: "carol", username: "carol", password: pw2 }), 0);
});

test("HTTP API off loopback: no token, a wrong token, and minting a password without the token are refused", { skip }, async () => {
  for (const cloud of [off, on]) {
    assert.ok(cloud.token, "a token was made");
    for (const headers of [{}, { authorization: "Bearer wrong" }] as Record<string, string>[]) {
      for (const [method, path] of [["GET", "/things"], ["GET", "/things/alice/shadow"], ["POST", "/things/alice/mqtt-password"], ["GET", "/jobs"], ["GET", "/certificates"]]) {
        const r = await fetch(`${cloud.httpUrl}${path}`, { method, headers: { ...headers, accept: "application/json" } });
        assert.equal(r.status, 401, `${method} ${path} with ${JSON.stringify(headers)}`);
      }
    }
    const ok = await fetch(`${cloud.httpUrl}/things`, { headers: { authorization: `Bearer ${cloud.token}` } });
    assert.equal(ok.status, 200);
  }
});

test("mTLS off loopback: no certificate is refused; a thing's certificate opens only its own topics", { skip }, async () => {
  assert.equal(await connack(off.tlsUrl!, { protocolVersion: 5, clientId: "eve", ca: off.caPem, servername: "localhost" }).catch(() => -1), -1);
  const cert = await issueDeviceCert(off.pkiDir, "erin");
  const erin = await Device.connect(off.tlsUrl!, { protocolVersion: 5, clientId: "frank", ca: off.caPem, cert: cert.certPem, key: cert.keyPem, servername: "localhost" });
  await assert.rejects(erin.client.subscribeAsync("$aws/things/frank/#", { qos: 1 }), (e: any) => e.packet?.granted?.[0] === 0x87, "the client id is not the identity");
  await assert.rejects(erin.client.publishAsync("$aws/things/frank/shadow/update", "{}", { qos: 1 }), (e: any) => e.code === 0x87);
  await erin.end();
});

test("CLI: xsiot things password <thing> prints a working password", { skip }, async () => {
  const { run } = await import("../../tools/cli/commands/things.ts");
  on.registry.create("gina");
  const lines: string[] = [];
  const log = console.log;
  const tokenBefore = process.env.XSIOT_TOKEN;
  console.log = (l: string) => lines.push(l);
  process.env.XSIOT_TOKEN = on.token;
  try {
    assert.equal(await run(["password", "gina", "--cloud", on.httpUrl]), 0);
  } finally {
    console.log = log;
    if (tokenBefore === undefined) delete process.env.XSIOT_TOKEN;
    else process.env.XSIOT_TOKEN = tokenBefore;
  }
  const password = /password (\S+)/.exec(lines.join("\n"))?.[1];
  assert.ok(password, lines.join("\n"));
  assert.equal(await connack(on.url, { protocolVersion: 4, clientId: "gina", username: "gina", password }), 0);
});

test("CLI: `xsiot cloud --host <network address>` prints a token, keeps the plain port shut, and the API refuses requests without the token", { skip }, async () => {
  const { spawn } = await import("node:child_process");
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const root = new URL("../..", import.meta.url).pathname;
  const dir = tempDir();
  const plainPort = await freePort(address!);
  const child = spawn(process.execPath, [join(root, "bin/xsiot.js"), "cloud", "--dir", dir.dir, "--host", address!, "--port", String(plainPort), "--tls-port", "0", "--http-port", "0"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  try {
    await new Promise<void>((resolve, reject) => {
      // The start-up ends with the console line, which carries the token.
      child.stdout!.on("data", (d: Buffer) => ((out += d.toString()), /console http\S*.*\n/.test(out) && resolve()));
      child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
      child.once("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const state = JSON.parse(readFileSync(join(dir.dir, "cloud.json"), "utf8")) as { url: string; httpUrl: string; token?: string };
    assert.ok(state.token && out.includes(state.token), "the token is printed once at start and kept in cloud.json for the CLI");
    assert.match(state.url, /^mqtts:/);
    assert.ok(await tcpRefused(address!, plainPort), "plain port shut");
    assert.equal((await fetch(`${state.httpUrl}/things`)).status, 401);
    assert.equal((await fetch(`${state.httpUrl}/things`, { headers: { authorization: `Bearer ${state.token}` } })).status, 200);
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGINT");
    await exited;
    dir.cleanup();
  }
});

test("plain listener off loopback: a PUBLISH pipelined behind a refused CONNECT never lands", { skip }, async () => {
  const mqttPacket = (await import("mqtt-packet")).default;
  on.registry.create("hank");
  for (const protocolVersion of [4, 5] as const) {
    const bytes = Buffer.concat([
      mqttPacket.generate({ cmd: "connect", protocolId: "MQTT", protocolVersion, clientId: "hank", username: "hank", password: Buffer.from("wrong"), clean: true, keepalive: 30 }),
      mqttPacket.generate({ cmd: "publish", topic: "$aws/things/hank/shadow/update", payload: Buffer.from(JSON.stringify({ state: { desired: { x: protocolVersion } } })), qos: 1, messageId: 1, retain: false, dup: false }, { protocolVersion }),
    ]);
    const s = connect(on.ports.mqtt!, address!);
    const parser = mqttPacket.parser({ protocolVersion });
    const got: string[] = [];
    parser.on("packet", (p: { cmd: string; returnCode?: number; reasonCode?: number }) => got.push(`${p.cmd}:${p.returnCode ?? p.reasonCode ?? ""}`));
    s.on("data", (d: Buffer) => parser.parse(d));
    s.on("error", () => undefined);
    s.write(bytes);
    await new Promise<void>((r) => s.once("close", () => r()));
    assert.deepEqual(got, [`connack:${protocolVersion === 4 ? 4 : 0x86}`], `v${protocolVersion}: only a refusal comes back, no PUBACK`);
  }
  // No PUBACK above means the broker never accepted the PUBLISH (it acknowledges QoS 1 once handled).
  assert.throws(() => on.shadows.get("hank"), /No shadow/, "the pipelined update never reached the shadow service");
});
