// The SDK's MQTT client, bundled for Espruino, on Espruino's interpreter
// against Mosquitto: the broker's log and an MQTT.js subscriber are the witnesses.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import mqtt from "mqtt";
import { startMosquitto, skipNoBroker, type Broker } from "../mqtt-xs/broker.ts";
import { readFileSync } from "node:fs";
import { build, doublePath, flash, run, skipNoEspruino, tempDevice } from "./harness.ts";

const skip = skipNoEspruino || skipNoBroker;
let broker: Broker;

before(async () => {
  if (skip) return;
  broker = await startMosquitto();
});
after(async () => {
  if (broker) await broker.stop();
});

function waitLog(re: RegExp): Promise<string> {
  return new Promise((resolve) => {
    const poll = (): void => {
      const hit = broker.log().find((l) => re.test(l));
      if (hit) resolve(hit);
      else setTimeout(poll, 20);
    };
    poll();
  });
}

/** A device script: requires the bundle from Storage, runs `body` with `x` (the SDK) and `port`. */
function device(port: number, body: string): string {
  return `${readFileSync(doublePath, "utf8")}\nvar x = require("xsiot"); var port = ${port};\n${body}`;
}

test("connect, QoS 0/1 publish with PUBACK, receive, keep-alive, last will", { skip }, async () => {
  const dir = tempDevice();
  await flash(dir, { xsiot: build().bundle });
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: "witness-1", protocolVersion: 4 });
  const got: { topic: string; payload: string }[] = [];
  sub.on("message", (topic, payload) => got.push({ topic, payload: payload.toString() }));
  await sub.subscribeAsync("esp1/#", { qos: 1 });
  const r = run(dir, device(broker.port, `
var c = new x.MQTTClient({ host: "127.0.0.1", port: port, clientId: "esp-1", version: 4, keepAlive: 1,
  session: { clean: true }, will: { topic: "esp1/will", payload: "gone", qos: 1 }, reconnect: false,
  onConnect: function (info) { print("CONNECTED " + info.sessionPresent); } });
c.route("cmd/esp1", function (topic, payload) { print("GOT " + topic + " " + E.toString(new Uint8Array(payload))); });
c.subscribe("cmd/esp1", { qos: 1 }).then(function (r) { print("SUBACK " + JSON.stringify(r)); });
c.publish("esp1/q0", "zero", { qos: 0 }).then(function () { print("SENT0"); });
c.publish("esp1/q1", "one", { qos: 1 }).then(function () { print("PUBACKED"); }, function (e) { print("FAILED " + e); });
`));
  await r.waitFor(/^SUBACK \[\{"filter":"cmd\/esp1","granted":1\}\]/);
  await r.waitFor(/^PUBACKED/);
  await waitLog(/Sending PUBACK to esp-1 \(m\d+, rc0\)/);
  await sub.publishAsync("cmd/esp1", "hello", { qos: 1 });
  await r.waitFor(/^GOT cmd\/esp1 hello/);
  await waitLog(/Received PINGREQ from esp-1/);
  await waitLog(/Sending PINGRESP to esp-1/);
  assert.ok(r.lines.includes("SENT0"));
  // An abrupt end (no DISCONNECT): the broker publishes the will.
  const will = new Promise<void>((resolve) => sub.on("message", (t) => t === "esp1/will" && resolve()));
  r.kill();
  await will;
  assert.deepEqual(got.filter((m) => m.topic !== "esp1/will"), [{ topic: "esp1/q0", payload: "zero" }, { topic: "esp1/q1", payload: "one" }]);
  assert.deepEqual(got.find((m) => m.topic === "esp1/will"), { topic: "esp1/will", payload: "gone" });
  await sub.endAsync();
});

test("a QoS 1 publish cut off before its PUBACK is resent (DUP) on the persistent session and acknowledged", { skip }, async () => {
  const dir = tempDevice();
  await flash(dir, { xsiot: build().bundle });
  // A proxy that forwards both ways until the device's first QoS 1 PUBLISH has
  // reached the broker, then holds back the PUBACK and cuts the connection.
  let cuts = 0;
  const proxy = net.createServer((down) => {
    const up = net.connect(broker.port, "127.0.0.1");
    let holding = false;
    down.on("data", (d) => {
      up.write(d);
      if (!cuts && d.toString("latin1").includes("esp2/data")) {
        holding = true;
        cuts++;
        void waitLog(/Sending PUBACK to esp-2/).then(() => {
          down.destroy();
          up.destroy();
        });
      }
    });
    up.on("data", (d) => {
      if (!holding) down.write(d);
    });
    down.on("error", () => up.destroy());
    up.on("error", () => down.destroy());
    down.on("close", () => up.destroy());
    up.on("close", () => down.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: "witness-2", protocolVersion: 4 });
  const got: string[] = [];
  sub.on("message", (_t, p) => got.push(p.toString()));
  await sub.subscribeAsync("esp2/data", { qos: 1 });
  const r = run(dir, device(port, `
var n = 0;
var c = new x.MQTTClient({ host: "127.0.0.1", port: port, clientId: "esp-2", version: 4, keepAlive: 30,
  session: { clean: false }, reconnect: { minMs: 50, maxMs: 200, jitter: 0 },
  onConnect: function (info) { n++; print("CONNECTED " + n + " " + info.sessionPresent); },
  onClose: function (e) { if (e) print("LOST " + e.message); } });
c.publish("esp2/data", "r1", { qos: 1 }).then(function () { print("PUBACKED"); return c.flush(5000); })
  .then(function () { print(JSON.stringify(process.memory())); c.close(); quit(); }, function (e) { print("FAILED " + e); quit(); });
`));
  await r.waitFor(/^LOST/);
  // CONNECT and the PUBLISH left in one write (pipelined), so the CONNACK was held back too: the next
  // connection is the first to complete, and finds the session the broker kept.
  await r.waitFor(/^CONNECTED \d true/);
  await r.waitFor(/^PUBACKED/);
  await r.done;
  // The broker saw the first send, then the same packet again with DUP set after the reconnect.
  await waitLog(/Received PUBLISH from esp-2 \(d1, q1, r0, m\d+, 'esp2\/data'/);
  assert.ok(broker.log().some((l) => /Received PUBLISH from esp-2 \(d0, q1, r0, m\d+, 'esp2\/data'/.test(l)));
  assert.equal(cuts, 1);
  assert.ok(got.includes("r1"));
  await sub.endAsync();
  proxy.close();
});
