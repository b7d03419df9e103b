// Persistent sessions through deep sleep, on XS in the virtual ESP32 against
// Mosquitto: QoS 1 messages MQTT.js publishes while the device is offline and
// asleep arrive after it wakes; a QoS 1 PUBLISH the broker never acknowledged
// before the sleep is resent (DUP) from the key-value store after the wake.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startMosquitto, peer, collect, until, skipNoBroker, type Broker } from "./broker.ts";
import { startDevice, appEvents, panics } from "./device.ts";

const MIN = 60_000;
let broker: Broker;
before(async () => {
  if (!skipNoBroker) broker = await startMosquitto();
});
after(async () => {
  await broker?.stop();
});

for (const version of [4, 5] as const) {
  test(`v${version === 4 ? "3.1.1 cleanSession=0" : "5 session expiry"}: QoS 1 published during deep sleep arrives after the wake; unacknowledged PUBLISH survives it in key-value storage`, { skip: skipNoBroker }, async () => {
    const id = `ps${version}`;
    const js = await peer(broker.port, { protocolVersion: version });
    const got = collect(js);
    await js.subscribeAsync(`xs/${id}/out/#`, { qos: 1 });
    const { device, events } = startDevice(
      {
        port: broker.port, clientId: `xs-${id}`, version, clean: false, expiry: version === 5 ? 3600 : undefined,
        store: "kv",
        subscribe: [{ filter: `xs/${id}/in/#`, qos: 1 }],
        publishAfterSubscribe: [{ topic: `xs/${id}/out/pre`, payload: "before-sleep", qos: 1, noWait: true }],
        flushMs: 2000,
        // After close: 60 s awake, then 10 minutes of deep sleep.
        sleepDelayMs: 60_000, sleepUs: 10 * MIN * 1000,
        // After the wake: no SUBSCRIBE (the broker's session has it), wait for 5 messages.
        wake: { subscribe: null, publishAfterSubscribe: null, expect: 5, flushMs: 10_000, sleepUs: 0 },
      },
      (e, d) => {
        // The broker never gets the pre-sleep PUBLISH: the device keeps it, unacknowledged.
        if (e.ev === "subscribed" && !e.woke) d.faults.dropOutgoing = true;
      },
    );
    try {
      // Phase 1: connect, subscribe, publish into the void, close; still awake at 30 s.
      await device.run(30_000);
      const first = appEvents(events);
      assert.ok(first.some((e) => e.ev === "flushfail"), "the pre-sleep publish stayed unacknowledged");
      assert.ok(first.some((e) => e.ev === "done"), "closed before the peer publishes");
      device.faults.dropOutgoing = false;
      // While the device is offline (then asleep), the peer publishes at QoS 1.
      for (let i = 0; i < 5; i++) await js.publishAsync(`xs/${id}/in/m`, `m${i}`, { qos: 1 });
      // Phase 2: deep sleep at ~64 s, wake at ~11 min, reconnect.
      await device.run(20 * MIN);
      await until("the resent pre-sleep message", () => got.length > 0);
    } finally {
      device.shutdown();
      js.end(true);
    }
    const app = appEvents(events);
    assert.deepEqual(panics(events), []);
    const boots = events.filter((e) => e.type === "boot").map((e) => e.resetReason);
    assert.deepEqual(boots, ["power-on", "deep-sleep"]);
    const connects = app.filter((e) => e.ev === "connected");
    assert.deepEqual(connects.map((e) => e.sessionPresent), [false, true]);
    const sleep = events.find((e) => e.type === "sleep")!;
    assert.ok(connects[1].t > sleep.t + 9 * MIN, "the second connection came after the deep sleep");
    assert.deepEqual(app.filter((e) => e.ev === "rx").map((e) => e.payload), ["m0", "m1", "m2", "m3", "m4"]);
    // The RAM is gone after deep sleep: the PUBLISH came back from key-value storage, resent with DUP.
    assert.ok(events.some((e) => e.type === "kv-write" && e.path === "mqtt"));
    assert.deepEqual(got.map((p) => [p.topic, String(p.payload)]), [[`xs/${id}/out/pre`, "before-sleep"]]);
    const log = broker.log().filter((l) => l.includes(`xs-${id}`));
    assert.ok(log.some((l) => new RegExp(`Received PUBLISH from xs-${id} \\(d1, q1, r0, m\\d+, 'xs/${id}/out/pre'`).test(l)), log.join("\n"));
    assert.ok(app.some((e) => e.ev === "flushed"), "after the wake, every exchange completed");
  });
}
