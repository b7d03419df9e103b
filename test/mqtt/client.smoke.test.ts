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

/** Starts Mosquitto on port p; resolves once it logs "running" (its listeners are open by then). */
async function startBroker(p: number): Promise<ChildProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "xsiot-mosq-"));
  const conf = path.join(dir, "mosquitto.conf");
  writeFileSync(conf, `listener ${p} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const child = spawn(MOSQUITTO, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`mosquitto exited (${code}): ${log}`));
    child.once("exit", onExit);
    child.stderr!.on("data", (d: Buffer) => {
      log += d;
      if (/ running\b/.test(log)) {
        child.off("exit", onExit);
        resolve();
      }
    });
  });
  child.stderr!.resume(); // keep draining its log
  return child;
}

before(async () => {
  if (!have) return;
  (globalThis as any).trace = (...v: unknown[]) => process.stderr.write(v.join(""));
  register(new URL("./shims/hooks.mjs", import.meta.url));
  MQTTClient = (await import("../../sdk/mqtt/client.ts")).MQTTClient;
  port = await freePort();
  broker = await startBroker(port);
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
    await done; // the QoS 2 message back through the broker (the runner's timeout catches a hang)
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
  // The delays are read from what the client asks its timer for, not from the
  // wall clock (which a loaded machine stretches); the clock only gives lower
  // bounds: no attempt may come before its delay has passed.
  const { requested } = await import("./shims/timer.ts");
  const p = await freePort();
  const closes: { at: number; delay: number }[] = [];
  let fifthFailure!: () => void;
  const failing = new Promise<void>((resolve) => { fifthFailure = resolve; });
  let connected!: () => void;
  const up = new Promise<void>((resolve) => { connected = resolve; });
  const c = new MQTTClient({
    host: "127.0.0.1", port: p, clientId: "late", version: 5,
    reconnect: { minMs: 40, maxMs: 160, jitter: 0.25 }, random: () => 0.5,
    onClose: (e: Error | undefined) => {
      if (!e) return;
      // The client arms its retry timer right after telling us: that is the next Timer.set.
      const mark = requested.length;
      closes.push({ at: Date.now(), delay: NaN });
      queueMicrotask(() => { closes[closes.length - 1].delay = requested[mark]; });
      if (closes.length === 5) fifthFailure();
    },
    onConnect: () => connected(),
  });
  // Requested while no broker exists: kept, then pipelined after CONNECT.
  const pub = c.publish("late/q1", "queued", { qos: 1 });
  await failing; // five refused attempts, then the broker appears
  const late = await startBroker(p);
  try {
    await up;
    await pub;
    c.close();
    // jitter 0.25 with random() = 0.5 takes 12.5% off min(maxMs, minMs * 2^n): 35, 70, 140, 140, ...
    const delays = closes.map((x) => x.delay);
    assert.ok(delays.length >= 5);
    assert.deepEqual(delays, [35, 70, ...Array(delays.length - 2).fill(140)], `retry delays ${delays}`);
    for (let i = 1; i < closes.length; i++) {
      const gap = closes[i].at - closes[i - 1].at;
      assert.ok(gap >= closes[i - 1].delay - 2, `attempt ${i + 1} came ${gap} ms after the previous failure, before its ${closes[i - 1].delay} ms delay`);
    }
  } finally {
    late.kill();
  }
});
