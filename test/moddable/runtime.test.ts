// The SDK on Moddable's real runtime: test/moddable/apps/runner built for lin by Moddable's
// mcconfig and run headless (scripts/moddable/host.c) runs the SDK's MQTT client, shadow client
// and jobs agent over plain TCP against a real Mosquitto and against `xsiot cloud`; the
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

const tc = toolchain();
const skip = typeof tc === "string" ? tc : skipNoBroker;
const HOST = "127.0.0.1"; // lin's embedded:io/socket/tcp takes a numeric address only

let broker: Broker;
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
  cloudDir = mkdtempSync(join(tmpdir(), "xsiot-moddable-cloud-"));
  cloud = await startCloud({ dir: cloudDir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
});
after(async () => {
  for (const app of running) await app.stop("SIGKILL");
  await broker?.stop();
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
