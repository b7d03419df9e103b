// The console service's view of the fleet, fed through the bus as devices feed it:
// JSON and CBOR telemetry (resent copies collapse), presence from the broker, the
// firmware version from the shadow, the thing's jobs and certificate, and live
// events on /console/events.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode } from "cbor-x";
import mqtt from "mqtt";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import type { ConsoleService } from "../../tools/console/service.ts";

const dirs: string[] = [];
let cloud: Cloud;
after(async () => {
  await cloud?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

type Fleet = { things: { thingName: string; connected: boolean | null; version: string | null; batteryMv: number | null; lastReading: { t: number; value: number } | null; readings: number }[] };

test("console service: telemetry, presence, version and live events", async () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-console-svc-"));
  dirs.push(dir);
  cloud = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger });
  cloud.registry.create("t-1");
  const get = async <T>(p: string) => (await (await fetch(cloud.httpUrl + p)).json()) as T;

  // Live events: read the stream until a telemetry change for t-1 arrives.
  const ac = new AbortController();
  const events = await fetch(cloud.httpUrl + "/console/events", { signal: ac.signal });
  assert.equal(events.headers.get("content-type"), "text/event-stream");
  const reader = events.body!.getReader();
  const seen = (async () => {
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += Buffer.from(value).toString();
      if (/event: change\ndata: \{"kind":"telemetry","thing":"t-1"/.test(text)) return text;
    }
  })();

  // A device on the plain listener (client id = thing name).
  const dev = await mqtt.connectAsync(cloud.url, { clientId: "t-1", protocolVersion: 4 });
  try {
    const t0 = 1_800_000_000;
    const json = JSON.stringify({ fields: ["seq", "t", "v", "mV", "flags"], r: [[1, t0, 21.5, 3001, 0], [2, t0 + 900, 21.25, 3000, 0]], lost: 0 });
    await dev.publishAsync("dt/t-1/telemetry", json, { qos: 1 });
    await dev.publishAsync("dt/t-1/telemetry", json, { qos: 1 }); // a resent copy
    await dev.publishAsync("dt/t-1/telemetry/cbor", Buffer.from(encode({ fields: ["seq", "t", "v", "mV", "flags"], r: [[3, t0 + 1800, 20.75, 2998, 0]] })), { qos: 1 });
    await dev.publishAsync("dt/t-1/telemetry", "not json", { qos: 1 }); // ignored, not fatal
    await dev.publishAsync("$aws/things/t-1/shadow/update", JSON.stringify({ state: { reported: { version: "1.2.3" } } }), { qos: 1 });
    let row: Fleet["things"][number] | undefined;
    for (let i = 0; i < 100; i++) {
      row = (await get<Fleet>("/console/fleet")).things.find((t) => t.thingName === "t-1");
      if (row?.readings === 3 && row.version === "1.2.3") break;
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(row!.readings, 3, "three distinct readings; the resent copy collapsed");
    assert.equal(row!.connected, true);
    assert.equal(row!.version, "1.2.3");
    assert.equal(row!.batteryMv, 2998);
    assert.deepEqual(row!.lastReading, { t: (t0 + 1800) * 1000, value: 20.75 });
    const detail = await get<{ telemetry: number[][]; shadow: { version: number }; executions: unknown[]; certificates: unknown[] }>("/console/things/t-1");
    assert.deepEqual(detail.telemetry.map((r) => r[1]), [21.5, 21.25, 20.75]);
    assert.ok(detail.shadow.version >= 1);
    assert.match(await seen, /"kind":"telemetry","thing":"t-1"/);
  } finally {
    ac.abort();
    await dev.endAsync();
  }
  // Disconnect is seen.
  for (let i = 0; i < 200; i++) {
    const row = (await get<Fleet>("/console/fleet")).things.find((t) => t.thingName === "t-1");
    if (row?.connected === false) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal((await get<Fleet>("/console/fleet")).things.find((t) => t.thingName === "t-1")!.connected, false);
  // Hooks: virtual devices appear with their projection.
  cloud.service<ConsoleService>("console")!.setHooks({
    virtualFleet: () => [{ device: "node-1", thing: "t-1", state: "deep sleep", now: 0, energy: { durationMs: 7 * 3_600_000, mah: {} as never, ms: {} as never, totalMah: 1, averageUa: 30, projectedYears: 11.4, batteryMah: 3000 } }],
  });
  const energy = await get<{ devices: { device: string; projectedYears: number }[] }>("/console/energy");
  assert.equal(energy.devices[0].projectedYears, 11.4);
});

test("console service: command deliveries and status changes, and Defender alarms, come as live events; the fleet carries active alarms", async () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-console-ops-"));
  dirs.push(dir);
  const c = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger });
  const ac = new AbortController();
  const dev = await mqtt.connectAsync(c.url, { clientId: "t-ops", protocolVersion: 4 });
  try {
    const events = await fetch(c.httpUrl + "/console/events", { signal: ac.signal });
    const reader = events.body!.getReader();
    let text = "";
    const waitFor = async (re: RegExp) => {
      while (!re.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${re}`);
        text += Buffer.from(value).toString();
      }
    };
    // The device answers every command it gets.
    await dev.subscribeAsync("$aws/commands/things/t-ops/executions/+/request/json", { qos: 1 });
    dev.on("message", (topic) => {
      if (topic.endsWith("/request/json")) void dev.publishAsync(topic.replace(/request\/json$/, "response/json"), JSON.stringify({ status: "SUCCEEDED" }), { qos: 1 });
    });
    const sent = await fetch(`${c.httpUrl}/things/t-ops/commands`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "identify", ttl: "5m" }) });
    assert.equal(sent.status, 201);
    // One event for the delivery, one for SUCCEEDED.
    await waitFor(/(event: change\ndata: \{"kind":"command","thing":"t-ops"\}[\s\S]*){2}/);
    const { commands } = (await (await fetch(`${c.httpUrl}/things/t-ops/commands`)).json()) as { commands: { status: string; deliveries: number }[] };
    assert.deepEqual(commands.map((x) => [x.status, x.deliveries]), [["SUCCEEDED", 1]]);

    // 150 messages in a row break the built-in profile's 100 per 5 minutes.
    for (let i = 0; i < 150; i++) await dev.publishAsync("dt/t-ops/telemetry", "{}", { qos: 1 });
    await waitFor(/"kind":"alarm","thing":"t-ops"/);
    const fleet = (await (await fetch(`${c.httpUrl}/console/fleet`)).json()) as { things: { thingName: string; alarms: number }[]; alarms: { thingName: string; behavior: string }[] };
    assert.equal(fleet.things.find((t) => t.thingName === "t-ops")!.alarms, 1);
    assert.deepEqual(fleet.alarms.map((a) => [a.thingName, a.behavior]), [["t-ops", "message-flood"]]);
  } finally {
    ac.abort();
    await dev.endAsync();
    await c.close();
  }
});
