// The virtual ESP32: real XS, virtual time, deep sleep, storage, sockets, panics.
import { createPrivateKey } from "node:crypto";
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { once } from "node:events";
import { simulate, makeDevice, image } from "./helpers.ts";
import { buildApp, BuildError } from "../../tools/sim/image.ts";
import { createCaInMemory, issueCertificate } from "../../tools/pki/index.ts";

const MIN = 60_000;

test("the app runs in XS, not in Node: no process, XS-only globals, compute meter advances", async () => {
  const r = await simulate("probe", 1000);
  const report = JSON.parse(r.logs[0]);
  assert.equal(report.process, "undefined");
  assert.equal(report.Buffer, "undefined");
  assert.equal(report.require, "undefined");
  assert.equal(report.Compartment, "function"); // XS intrinsic, absent from Node
  assert.equal(report.ModuleSource, "function");
  assert.equal(report.work, 5995); // sum of i % 7 for i < 2000
  assert.ok(r.summary.compute > 2000, `compute meter advanced: ${r.summary.compute}`);
});

test("96 wakes of 15 minutes run in virtual time, fast", async () => {
  const started = performance.now();
  const r = await simulate("hello", 24 * 60 * MIN);
  const wall = performance.now() - started;
  const boots = r.events.filter((e) => e.type === "boot");
  assert.equal(boots.length, 96, "one power-on boot plus 95 timer wakes in 24 h");
  assert.equal(r.summary.wakes, 95);
  assert.equal(boots[0].resetReason, "power-on");
  for (let i = 1; i < boots.length; i++) {
    assert.equal(boots[i].resetReason, "deep-sleep");
    assert.equal(boots[i].wakeCause, "timer");
    const gap = boots[i].t - boots[i - 1].t;
    // 15 min of sleep plus the awake time (boot + 20 ms timer + compute)
    assert.ok(gap >= 15 * MIN && gap < 15 * MIN + 1000, `wake ${i} gap ${gap} ms`);
  }
  assert.ok(wall < 60_000, `24 virtual hours took ${wall} ms of wall time`);
  assert.ok(r.summary.energy.mah["deep-sleep"] > 0);
});

test("retained memory survives deep sleep; the heap does not; power-on clears it", async () => {
  const { device, events } = makeDevice("hello");
  // Power is cut after the third boot: the retained counter must restart at 1.
  device.at(31 * MIN, () => device.powerCut(5000));
  await device.run(61 * MIN);
  device.shutdown();
  const logs = events.filter((e) => e.type === "log").map((e) => String(e.text));
  const counters = logs.map((l) => Number(/boot (\d+)/.exec(l)![1]));
  const heaps = logs.map((l) => Number(/heap=(\d+)/.exec(l)![1]));
  assert.deepEqual(counters, [1, 2, 3, 1, 2, 3].slice(0, counters.length));
  assert.ok(counters.length >= 5, `boots: ${logs.join(" | ")}`);
  assert.ok(heaps.every((h) => h === 1), "module state starts afresh on every boot");
  const resets = events.filter((e) => e.type === "boot").map((e) => e.resetReason);
  assert.deepEqual(resets.slice(0, 4), ["power-on", "deep-sleep", "deep-sleep", "power-on"]);
});

test("a power cut at 100 random instants during key-value writes never corrupts storage", async () => {
  let seed = 12345;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const { device, events } = makeDevice("kvwriter", { maxPanics: 1 });
  let cuts = 0;
  device.storage.powerCutHook = (point) => {
    if (!point.startsWith("kv.write") || cuts >= 100 || random() > 0.3) return false;
    cuts++;
    return true;
  };
  await device.run(6 * MIN); // ~330 boots of 1 s sleeps
  device.shutdown();
  assert.equal(cuts, 100, "all 100 power cuts were injected");
  // Walk the trace: after every boot each key holds its last committed value or the one being written.
  const committed: Record<string, number> = { a: -1, b: -1 };
  const attempted: Record<string, number> = { a: -1, b: -1 };
  let checked = 0;
  for (const e of events) {
    const text = String(e.text ?? "");
    if (e.type === "log" && text.startsWith("attempt")) {
      const [, key, n] = /attempt (\w)=(\d+)/.exec(text)!;
      attempted[key] = Number(n);
    } else if (e.type === "kv-write") {
      committed[e.key as string] = attempted[e.key as string];
    } else if (e.type === "log" && text.startsWith("read")) {
      const [, a, b] = /read a=(-?\d+) b=(-?\d+)/.exec(text)!.map(Number);
      assert.ok(a !== -2 && b !== -2, `corrupt value read: ${text}`);
      assert.ok(a === committed.a || a === attempted.a, `a=${a}, committed ${committed.a}, attempted ${attempted.a}`);
      assert.ok(b === committed.b || b === attempted.b, `b=${b}, committed ${committed.b}, attempted ${attempted.b}`);
      committed.a = attempted.a = a;
      committed.b = attempted.b = b;
      checked++;
    }
  }
  assert.ok(checked > 100, `checked ${checked} boots`);
  assert.equal(events.filter((e) => e.type === "power-cut").length, 100);
});

test("socket round trip from XS to a real TCP server on loopback", async () => {
  const server = createServer((s) => s.on("data", (d) => s.write(`echo ${d}`)));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  try {
    const r = await simulate("net", 30_000, { deviceConfig: { port } });
    assert.deepEqual(r.logs, ["echo: echo ping from xs"]);
    assert.ok(r.events.some((e) => e.type === "wifi-join"));
    assert.ok(r.summary.energy.mah.radio > 0 || r.summary.energy.mah.tx > 0);
  } finally {
    server.close();
  }
});

test("mutual-TLS round trip with a test CA; a client without a certificate is refused", async () => {
  const { ca } = await createCaInMemory({ cn: "sim test CA" });
  const serverCert = await issueCertificate(ca, { cn: "127.0.0.1", usage: "server", ips: ["127.0.0.1"] });
  const client = await issueCertificate(ca, { cn: "thing-1" });
  const peers: string[] = [];
  const server = createTlsServer({ cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (s) => {
    peers.push(String(s.getPeerCertificate().subject.CN));
    s.on("data", (d) => s.write(`tls ${d}`));
  });
  server.on("tlsClientError", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  try {
    // Moddable's TLS takes DER (modules/crypt/ssl/ssl_cert.js), the key as PKCS#8: mc/config carries them as base64.
    const der = (pem: string) => pem.replace(/-----[^-]+-----|\s/g, "");
    const key = createPrivateKey(client.keyPem).export({ format: "der", type: "pkcs8" }).toString("base64");
    const good = await simulate("net", 30_000, { deviceConfig: { port, tls: { ca: der(ca.certPem), certificate: der(client.certPem), key } } });
    assert.deepEqual(good.logs, ["echo: tls ping from xs"]);
    assert.deepEqual(peers, ["thing-1"]);
    assert.ok(good.summary.energy.mah.tls > 0, "TLS handshake charged");
    const bad = await simulate("net", 30_000, { deviceConfig: { port, tls: { ca: der(ca.certPem) } } });
    assert.deepEqual(bad.logs, ["socket error"]);
  } finally {
    server.close();
  }
});

test("an uncaught exception is a panic: reported at the TypeScript line, then the device reboots", async () => {
  const r = await simulate("panic", 2 * 60 * MIN);
  const panic = r.events.find((e) => e.type === "panic")!;
  assert.ok(panic, "panic traced");
  assert.match(String(panic.message), /driver failed: sensor bus stuck/);
  assert.match(String(panic.at), /test\/sim\/apps\/panic\/lib\.ts:3$/);
  assert.match(String(panic.stack), /apps\/panic\/main\.ts:10/);
  const boots = r.events.filter((e) => e.type === "boot").map((e) => e.resetReason);
  assert.deepEqual(boots.slice(0, 3), ["power-on", "panic", "deep-sleep"]);
  assert.deepEqual(r.logs.slice(0, 2), ["boot 0 after power-on", "boot 1 after panic"]);
});

test("a missing module panics with its name and importer; a device that cannot boot does not hang", async () => {
  const r = await simulate("missing", 10 * MIN, { maxPanics: 3 });
  const panic = r.events.find((e) => e.type === "panic")!;
  assert.match(String(panic.message), /module "xsiot\/does-not-exist" not found \(imported by "lib", .*apps\/missing\/lib\.ts\)/);
  assert.equal(r.summary.panics, 3);
  assert.match(r.summary.stoppedBecause!, /boot loop/);
});

test("an app that does not compile names the file and line", () => {
  assert.throws(() => buildApp(new URL("./apps/badts", import.meta.url).pathname), (e: unknown) => {
    assert.ok(e instanceof BuildError);
    assert.match((e as Error).message, /apps\/badts\/main\.ts:2:\d+: /);
    return true;
  });
});

test("a delivery that never yields trips the task watchdog", async () => {
  const r = await simulate("spin", 30_000, { watchdogUnits: 2_000_000, maxPanics: 100 });
  const boots = r.events.filter((e) => e.type === "boot").map((e) => e.resetReason);
  assert.ok(r.events.some((e) => e.type === "watchdog"));
  assert.equal(boots[1], "watchdog");
});

test("boot loader: a new image boots pending-verify; unconfirmed it rolls back; confirmed it stays", async () => {
  const v1 = image("otaapp", { version: "1.0.0", selfTest: "pass" });
  for (const [selfTest, expectVersion] of [["pass", "2.0.0"], ["fail", "1.0.0"], ["rollback", "1.0.0"]] as const) {
    const { device, events } = makeDevice(v1);
    // Stage image 2.0.0 as an OTA would: write ota_1, mark it new and bootable.
    const v2 = buildApp(new URL("./apps/otaapp", import.meta.url).pathname, { config: { version: "2.0.0", selfTest } });
    device.at(30_000, () => {
      device.storage.flashWrite("ota_1", 0, v2.bytes);
      device.storage.writeOtaData({ boot: "ota_1", states: { ota_0: "valid", ota_1: "new" } });
    });
    await device.run(5 * MIN);
    device.shutdown();
    const running = events.filter((e) => e.type === "log").map((e) => String(e.text));
    assert.equal(running[0], "running 1.0.0 on ota_0 state=valid");
    assert.equal(running[1], "running 2.0.0 on ota_1 state=pending-verify", `${selfTest}: ${running.join(" | ")}`);
    assert.equal(device.runningImage?.version, expectVersion, `${selfTest}: ${running.join(" | ")}`);
    if (selfTest !== "pass") assert.ok(events.some((e) => e.type === "rollback"));
    else assert.ok(events.some((e) => e.type === "ota-valid"));
  }
});

test("boot loader refuses a torn image and boots the other partition", async () => {
  const v1 = image("otaapp", { version: "1.0.0", selfTest: "pass" });
  const { device, events } = makeDevice(v1);
  const v2 = buildApp(new URL("./apps/otaapp", import.meta.url).pathname, { config: { version: "2.0.0", selfTest: "pass" } });
  device.at(30_000, () => {
    device.storage.flashWrite("ota_1", 0, v2.bytes.subarray(0, v2.bytes.length - 100)); // power lost mid-write
    device.storage.writeOtaData({ boot: "ota_1", states: { ota_0: "valid", ota_1: "new" } });
  });
  await device.run(3 * MIN);
  device.shutdown();
  assert.equal(device.runningImage?.version, "1.0.0");
  assert.ok(events.some((e) => e.type === "boot-skip"));
});

test("ADC, GPIO and I2C inputs come from the scenario; a door opening wakes the chip (ext0)", async () => {
  const { parseScenario } = await import("../../tools/sim/scenario.ts");
  const scenario = parseScenario(
    JSON.stringify({
      adc: { "36": { type: "constant", value: 1745 } },
      gpio: { "4": { type: "piecewise", points: [["0s", 1], ["20m", 0], ["21m", 1]] } },
      i2c: { "0x44": { device: "sht3x", temperature: { type: "constant", value: 21.5 }, humidity: 40 } },
    }),
  );
  const r = await simulate("io", 30 * MIN, { scenario });
  const readings = r.logs.map((l) => JSON.parse(l));
  assert.equal(readings[0].adc, 2000, "1745 mV maps to raw 2000 on the board's calibration curve");
  assert.equal(readings[0].door, 1);
  assert.equal(readings[0].t, 21.5);
  assert.equal(readings[0].rh, 40);
  assert.equal(readings[0].crcOk, true);
  assert.match(readings[0].nack, /no device acknowledged address 0x77/);
  assert.equal(readings[1].wake, "ext0");
  assert.equal(readings[1].door, 0);
  const wakeBoot = r.events.filter((e) => e.type === "boot")[1];
  assert.equal(wakeBoot.t - r.events[0].t, 20 * MIN + 90, "woke when the door opened (plus boot time)");
});

test("restart() is a software reset; ext1 wakes on any of several pins and names it; the RTC can be set", async () => {
  const { parseScenario } = await import("../../tools/sim/scenario.ts");
  const scenario = parseScenario(JSON.stringify({ gpio: { "32": 0, "33": { type: "piecewise", points: [["0s", 0], ["10m", 1]] } } }));
  const r = await simulate("power", 30 * MIN, { scenario });
  assert.deepEqual(r.logs.slice(0, 3), [
    "boot 1 reset=power-on wake=undefined pin=-1",
    "boot 2 reset=software wake=undefined pin=-1",
    "boot 3 reset=deep-sleep wake=ext1 pin=33",
  ]);
  assert.equal(r.logs[3], "rtc 2030-01-01T00:00:00.000Z");
  const third = r.events.filter((e) => e.type === "boot")[2];
  assert.equal(third.t - r.events[0].t, 10 * MIN + 90);
});

test("socket faults: split writes still deliver whole; a cut reaches the app as an error", async () => {
  let line = "";
  const server = createServer((s) => s.on("data", (d: Buffer) => {
    line += d.toString();
    if (line.endsWith("\n")) s.write(`echo ${line}`);
  }));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  try {
    const split = makeDevice("net", { deviceConfig: { port } });
    split.device.faults.splitWrites = 4;
    await split.device.run(30_000);
    split.device.shutdown();
    // TCP may coalesce the pieces on the way: count them where they leave, check the line arrives whole.
    assert.equal(split.events.find((e) => e.type === "socket-close")?.segments, 4, "13 bytes in pieces of at most 4");
    assert.deepEqual(split.events.filter((e) => e.type === "log").map((e) => e.text), ["echo: echo ping from xs"]);
    const cut = makeDevice("net", { deviceConfig: { port }, onEvent: (e, d) => e.type === "socket-connected" && d.cutSockets() });
    await cut.device.run(30_000);
    cut.device.shutdown();
    const logs = cut.events.filter((e) => e.type === "log").map((e) => String(e.text));
    assert.deepEqual(logs, ["socket error"], "onError() has no argument in Moddable (modules/io/socket/lwip/tcp.c)");
    assert.match(String(cut.events.find((e) => e.type === "socket-error")?.message), /connection reset \(fault injected\)/);
  } finally {
    server.close();
  }
});
