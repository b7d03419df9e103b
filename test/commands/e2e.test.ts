// Commands with a time to live, end to end: the commands app on the virtual ESP32
// (real XS, real MQTTClient, key-value storage across deep sleep and a power cut)
// against the local cloud, whose clock is the device's virtual clock so TTLs
// pass in virtual time.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { type Cloud, type CommandsService } from "../../tools/cloud/index.ts";
import { buildApp } from "../../tools/sim/image.ts";
import { makeDevice } from "../sim/helpers.ts";
import { cloudOnDeviceClock } from "../cloud/helpers.ts";

const app = buildApp(new URL("./apps/node", import.meta.url).pathname);
const clocked = cloudOnDeviceClock("xsiot-commands-e2e-");
let cloud: Cloud;
before(async () => {
  cloud = await clocked.start();
});

const logsOf = (events: { type: string; text?: unknown }[]) => events.filter((e) => e.type === "log").map((e) => String(e.text).trimEnd());

for (const mqttVersion of [4, 5] as const) {
  test(`MQTT ${mqttVersion === 4 ? "3.1.1" : "5"}: a command runs once in time; one that expires while the node sleeps never runs; duplicates and a power cut mid-command never run it twice`, async () => {
    const thing = `cmd-node-v${mqttVersion}`;
    cloud.registry.create(thing);
    const commands = cloud.service<CommandsService>("commands")!;
    const ids: Record<string, string> = {};
    let sleeps = 0;
    let cut = false;
    let duplicateSent = false;
    let staleSent = false;
    const { device, events } = makeDevice(app, {
      deviceConfig: { port: cloud.ports.mqtt, thing, mqttVersion, sleepS: 60 },
      onEvent(e, d) {
        const text = e.type === "log" ? String(e.text) : "";
        if (e.type === "sleep") {
          sleeps++;
          // Sent while the node sleeps 60 s: "on-time" lives 10 min, "too-late" 30 s.
          if (sleeps === 1) {
            void commands.send({ thingName: thing, name: "blink", payload: { times: 3 }, ttl: "10m" }).then((x) => (ids.onTime = x.executionId));
            void commands.send({ thingName: thing, name: "blink", payload: { times: 1 }, ttl: 30 }).then((x) => (ids.tooLate = x.executionId));
          }
          if (sleeps === 2) void commands.send({ thingName: thing, name: "slow", ttl: "10m" }).then((x) => (ids.slow = x.executionId));
        }
        // Delivered again (as a broker may after a lost PUBACK): answered from storage.
        if (ids.onTime && text.startsWith(`commands: ${ids.onTime} SUCCEEDED`) && !duplicateSent) {
          duplicateSent = true;
          void cloud.bus.publish(`$aws/commands/things/${thing}/executions/${ids.onTime}/request/json`, { name: "blink", payload: { times: 3 } });
        }
        // Power fails while "slow" runs: at once (a cut scheduled for later could race the device).
        if (text.startsWith("slow started") && !cut) {
          cut = true;
          d.powerCut(3000);
        }
        // A request whose deadline passed by the device's own clock (bypassing the cloud's check).
        if (ids.slow && text.startsWith(`commands: ${ids.slow} FAILED`) && !staleSent) {
          staleSent = true;
          void cloud.bus.publish(`$aws/commands/things/${thing}/executions/stale-${mqttVersion}/request/json`, { name: "blink", deadline: d.epochNow - 5000 });
        }
      },
    });
    clocked.follow(device);
    try {
      await device.run(330_000);
    } finally {
      device.shutdown();
      clocked.follow(undefined);
    }
    const logs = logsOf(events);
    const all = logs.join("\n");
    assert.ok(ids.onTime && ids.tooLate && ids.slow, all);

    // In time: ran exactly once (the duplicate was answered from storage), SUCCEEDED in the cloud.
    assert.equal(logs.filter((l) => l.startsWith(`ran blink ${ids.onTime}`)).length, 1, all);
    assert.ok(logs.includes(`ran blink ${ids.onTime} {"times":3}`), all);
    assert.ok(logs.includes(`commands: ${ids.onTime} again: answered SUCCEEDED again, not run`), all);
    const onTime = commands.get(ids.onTime)!;
    assert.equal(onTime.status, "SUCCEEDED");
    assert.ok(onTime.deliveries >= 1);

    // Expired while asleep: never delivered, never ran, TIMED_OUT in the cloud.
    assert.ok(!all.includes(ids.tooLate), all);
    const tooLate = commands.get(ids.tooLate)!;
    assert.equal(tooLate.status, "TIMED_OUT");
    assert.equal(tooLate.deliveries, 0);
    assert.equal(tooLate.statusReason?.reasonCode, "EXPIRED");

    // Power cut mid-command: redelivered after the cold boot, reported FAILED INTERRUPTED, never re-run.
    assert.equal(logs.filter((l) => l.startsWith(`slow started ${ids.slow}`)).length, 1, all);
    const slow = commands.get(ids.slow)!;
    assert.equal(slow.status, "FAILED");
    assert.equal(slow.statusReason?.reasonCode, "INTERRUPTED");
    const boots = events.filter((e) => e.type === "boot").map((e) => e.resetReason);
    assert.ok(boots.includes("power-on") && boots.lastIndexOf("power-on") > 0, `a cold boot after the cut: ${boots.join(",")}`);

    // Late by the device's clock: refused, never run.
    assert.ok(logs.includes(`commands: stale-${mqttVersion} REJECTED EXPIRED`), all);
    assert.ok(!all.includes(`ran blink stale-${mqttVersion}`), all);
    assert.ok(!all.includes("error:"), all);
  });
}

test("commands API: clear errors for bad input", async () => {
  const commands = cloud.service<CommandsService>("commands")!;
  cloud.registry.create("cmd-api");
  await assert.rejects(commands.send({ thingName: "nobody", name: "x", ttl: 60 }), /not registered/);
  await assert.rejects(commands.send({ thingName: "cmd-api", name: "bad name!", ttl: 60 }), /name must be/);
  await assert.rejects(commands.send({ thingName: "cmd-api", name: "x", ttl: "soon" }), /ttl must be/);
  await assert.rejects(commands.send({ thingName: "cmd-api", name: "x", ttl: 0.5 }), /from 1 s to 7 d/);
  await assert.rejects(commands.send({ thingName: "cmd-api", name: "x", ttl: 60, payload: "x".repeat(5000) }), /exceeds/);
  const res = await fetch(`${cloud.httpUrl}/things/cmd-api/commands`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "x" }) });
  assert.equal(res.status, 400);
  assert.match(((await res.json()) as { message: string }).message, /ttl must be/);
});
