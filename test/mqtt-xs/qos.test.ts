// sdk/mqtt's client on the real XS engine in the virtual ESP32, against a real
// Mosquitto, with MQTT.js as the peer application (MQTT.js interop).
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
  test(`v${version === 4 ? "3.1.1" : "5"}: QoS 0/1/2 both ways between the XS device and MQTT.js through Mosquitto`, { skip: skipNoBroker }, async () => {
    const id = `qos${version}`;
    const js = await peer(broker.port, { protocolVersion: version });
    const got = collect(js);
    await js.subscribeAsync(`xs/${id}/out/#`, { qos: 2 });
    const { device, events } = startDevice(
      {
        port: broker.port, clientId: `xs-${id}`, version,
        subscribe: [{ filter: `xs/${id}/in/#`, qos: 2 }],
        publish: [0, 1, 2].map((q) => ({ topic: `xs/${id}/out/q${q}`, payload: `from-xs-q${q}`, qos: q })),
        expect: 3,
      },
      (e) => {
        // The peer application answers once the device's subscription is granted.
        if (e.ev === "subscribed") for (const q of [0, 1, 2] as const) js.publish(`xs/${id}/in/q${q}`, `from-js-q${q}`, { qos: q });
      },
    );
    try {
      await device.run(10 * MIN);
    } finally {
      device.shutdown();
      js.end(true);
    }
    const app = appEvents(events);
    assert.deepEqual(panics(events), []);
    assert.deepEqual(app.find((e) => e.ev === "subscribed")?.results, [{ filter: `xs/${id}/in/#`, granted: 2 }]);
    // Device -> MQTT.js, each at the QoS it was published with.
    const out = got.map((p) => [p.topic, String(p.payload), p.qos]).sort();
    assert.deepEqual(out, [0, 1, 2].map((q) => [`xs/${id}/out/q${q}`, `from-xs-q${q}`, q]));
    assert.equal(app.filter((e) => e.ev === "acked").length, 3, "every publish promise resolved");
    // MQTT.js -> device.
    const rx = app.filter((e) => e.ev === "rx").map((e) => `${e.topic}=${e.payload}`).sort();
    assert.deepEqual(rx, [0, 1, 2].map((q) => `xs/${id}/in/q${q}=from-js-q${q}`));
    // The broker saw the device complete each flow: PUBACK for QoS 1, PUBREC/PUBREL/PUBCOMP for QoS 2, both directions.
    const log = broker.log().filter((l) => l.includes(`xs-${id}`));
    const has = (re: RegExp) => assert.ok(log.some((l) => re.test(l)), `broker log lacks ${re}:\n${log.join("\n")}`);
    has(new RegExp(`Received PUBLISH from xs-${id} \\(d0, q1, r0, m\\d+, 'xs/${id}/out/q1'`));
    has(new RegExp(`Received PUBLISH from xs-${id} \\(d0, q2, r0, m\\d+, 'xs/${id}/out/q2'`));
    has(/Received PUBREL from xs-/);
    has(/Received PUBACK from xs-/); // device acknowledged the inbound QoS 1
    has(/Received PUBREC from xs-/); // and the inbound QoS 2 ...
    has(/Received PUBCOMP from xs-/); // ... to the end
    assert.ok(app.some((e) => e.ev === "done"));
    assert.equal(app.find((e) => e.ev === "closed")?.error, null, "closed by close(), not by an error");
    assert.ok(log.some((l) => l.includes(`Received DISCONNECT from xs-${id}`)));
  });
}
