// Host smoke test of MQTTClient (client.ts) against a real Mosquitto, with the
// ECMA-419 socket and timer modules shimmed over node:net. The real end-to-end
// runs are on XS in the virtual ESP32; this one checks the driver wiring cheaply.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { register } from "node:module";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const MOSQUITTO = "/usr/sbin/mosquitto";
const have = existsSync(MOSQUITTO);
let broker: ChildProcess | undefined;
let port = 0;
let MQTTClient: any;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitListening(p: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(p, "127.0.0.1", () => { c.destroy(); resolve(true); });
      c.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("mosquitto did not start");
}

function startBroker(p: number): ChildProcess {
  const dir = mkdtempSync(path.join(os.tmpdir(), "xsiot-mosq-"));
  const conf = path.join(dir, "mosquitto.conf");
  writeFileSync(conf, `listener ${p} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  return spawn(MOSQUITTO, ["-c", conf], { stdio: "ignore" });
}

before(async () => {
  if (!have) return;
  (globalThis as any).trace = (...v: unknown[]) => process.stderr.write(v.join(""));
  register(new URL("./shims/hooks.mjs", import.meta.url));
  MQTTClient = (await import("../../sdk/mqtt/client.ts")).MQTTClient;
  port = await freePort();
  broker = startBroker(port);
  await waitListening(port);
});

after(() => {
  broker?.kill();
});

for (const version of [4, 5] as const) {
  test(`MQTTClient v${version} against Mosquitto: pipelined publish, QoS 0/1/2 round trip, flush, close`, { skip: have ? false : "no /usr/sbin/mosquitto" }, async () => {
    const got: string[] = [];
    let connects = 0;
    const closes: (Error | undefined)[] = [];
    const client = new MQTTClient({
      host: "127.0.0.1", port, clientId: `smoke-${version}-${process.pid}`, version, keepAlive: 30,
      session: { clean: true }, reconnect: false,
      onConnect: () => connects++,
      onClose: (e: Error | undefined) => closes.push(e),
    });
    const done = new Promise<void>((resolve) => {
      client.route("smoke/+/q2", () => resolve());
    });
    client.route("smoke/#", (topic: string, payload: ArrayBuffer) => got.push(`${topic}=${new TextDecoder().decode(payload)}`));
    // Requested before the socket is even open: goes out right after CONNECT.
    const sub = client.subscribe("smoke/#", { qos: 2 });
    const p0 = client.publish("smoke/v/q0", "zero", { qos: 0 });
    const p1 = client.publish("smoke/v/q1", new TextEncoder().encode("one"), { qos: 1 });
    const p2 = client.publish("smoke/v/q2", "two", { qos: 2 });
    const results = await sub;
    assert.deepEqual(results, [{ filter: "smoke/#", granted: 2 }]);
    await Promise.all([p0, p1, p2]);
    await client.flush(2000);
    await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error("no QoS 2 message back")), 3000).unref())]);
    assert.equal(connects, 1);
    assert.ok(got.includes("smoke/v/q1=one"), got.join());
    assert.ok(got.includes("smoke/v/q2=two"), got.join());
    await client.unsubscribe("smoke/#");
    client.close();
    assert.deepEqual(closes, [undefined]);
    await assert.rejects(client.publish("smoke/after", "x"), /client closed/);
  });
}

test("MQTTClient: connection refused ends with an Error in onClose and rejects waiting work", { skip: have ? false : "no /usr/sbin/mosquitto" }, async () => {
  const dead = await freePort();
  const closed = new Promise<Error | undefined>((resolve) => {
    const c = new MQTTClient({ host: "127.0.0.1", port: dead, clientId: "nobody", reconnect: false, onClose: resolve });
    c.publish("x", "y", { qos: 1 }); // dropped promise: must not become an unhandled rejection
  });
  const e = await closed;
  assert.ok(e instanceof Error);
  assert.match(e!.message, /connection lost|ECONNREFUSED/);
});

test("MQTTClient: backoff doubles up to maxMs while the broker is down, then queued work goes out on connect", { skip: have ? false : "no /usr/sbin/mosquitto" }, async () => {
  const p = await freePort();
  const closes: number[] = [];
  let late: ChildProcess | undefined;
  const connected = new Promise<void>((resolve) => {
    const c = new MQTTClient({
      host: "127.0.0.1", port: p, clientId: "late", version: 5,
      reconnect: { minMs: 40, maxMs: 160, jitter: 0.25 }, random: () => 0.5,
      onClose: (e: Error | undefined) => { if (e) closes.push(Date.now()); },
      onConnect: () => resolve(),
    });
    // Requested while no broker exists: kept, then pipelined after CONNECT.
    const pub = c.publish("late/q1", "queued", { qos: 1 });
    pub.then(() => c.close(), () => {});
    (globalThis as any).__latePub = pub;
  });
  await new Promise((r) => setTimeout(r, 600));
  late = startBroker(p);
  try {
    await connected;
    await (globalThis as any).__latePub;
    assert.ok(closes.length >= 4, `${closes.length} failed attempts`);
    const gaps = closes.slice(1).map((t, i) => t - closes[i]);
    // jitter 0.25 with random() = 0.5 takes 12.5% off: 35, 70, 140, 140, ...
    assert.ok(gaps[0] >= 30 && gaps[0] < 90, `first gap ${gaps[0]}`);
    assert.ok(gaps[1] >= 60 && gaps[1] < 150, `second gap ${gaps[1]}`);
    for (const g of gaps.slice(2)) assert.ok(g >= 130 && g < 260, `capped gap ${g}`);
  } finally {
    late.kill();
  }
});
