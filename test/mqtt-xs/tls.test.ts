// Mutual TLS to a Mosquitto listener with require_certificate, and the round
// trip count of a wake, on XS in the virtual ESP32.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createCaInMemory, issueCertificate, type Ca } from "../../tools/pki/index.ts";
import { startMosquitto, peer, collect, until, skipNoBroker, type Broker } from "./broker.ts";
import { startDevice, appEvents, panics } from "./device.ts";

const MIN = 60_000;
let broker: Broker;
let ca: Ca;
before(async () => {
  if (skipNoBroker) return;
  ca = (await createCaInMemory({ cn: "mqtt-xs test CA" })).ca;
  const server = await issueCertificate(ca, { cn: "127.0.0.1", usage: "server", ips: ["127.0.0.1"] });
  broker = await startMosquitto({ tls: { caPem: ca.certPem, certPem: server.certPem, keyPem: server.keyPem } });
});
after(async () => {
  await broker?.stop();
});

async function deviceCert(cn: string, issuer = ca) {
  const c = await issueCertificate(issuer, { cn });
  return { ca: ca.certPem, certificate: c.certPem, key: c.keyPem };
}

test("mutual TLS with a per-device certificate: the broker knows the device by its certificate CN", { skip: skipNoBroker }, async () => {
  const js = await peer(broker.port);
  const got = collect(js);
  await js.subscribeAsync("xs/tls/out/#", { qos: 1 });
  const { device, events } = startDevice({
    port: broker.tlsPort, clientId: "xs-tls-good", version: 5,
    tls: await deviceCert("xs-tls-good"),
    publish: [{ topic: "xs/tls/out/hello", payload: "over mTLS", qos: 1 }],
  });
  try {
    await device.run(5 * MIN);
    await until("the message", () => got.length > 0);
  } finally {
    device.shutdown();
    js.end(true);
  }
  const app = appEvents(events);
  assert.deepEqual(panics(events), []);
  assert.ok(events.some((e) => e.type === "socket-connected" && e.tls === true));
  assert.deepEqual(got.map((p) => String(p.payload)), ["over mTLS"]);
  assert.ok(app.some((e) => e.ev === "flushed"));
  assert.equal(app.find((e) => e.ev === "closed")?.error, null);
  // use_identity_as_username: the broker took the certificate's CN as the username.
  assert.ok(broker.log().some((l) => /New client connected from .* as xs-tls-good .*u'xs-tls-good'/.test(l)), broker.log().join("\n"));
});

for (const kind of ["a certificate from another CA", "no certificate"] as const) {
  test(`mutual TLS: a device with ${kind} is refused; onClose and the publish rejection say why`, { skip: skipNoBroker }, async (t) => {
    let tls: Record<string, string>;
    if (kind === "no certificate") tls = { ca: ca.certPem };
    else {
      const rogue = (await createCaInMemory({ cn: "rogue CA" })).ca;
      tls = await deviceCert("xs-tls-rogue", rogue);
    }
    const { device, events } = startDevice({
      port: broker.tlsPort, clientId: "xs-tls-rogue", version: 5, tls,
      publish: [{ topic: "xs/tls/out/hello", payload: "let me in", qos: 1 }],
    });
    try {
      await device.run(5 * MIN);
    } finally {
      device.shutdown();
    }
    const app = appEvents(events);
    assert.deepEqual(panics(events), []);
    assert.equal(app.some((e) => e.ev === "connected"), false, "never connected");
    const closed = app.filter((e) => e.ev === "closed");
    assert.equal(closed.length, 1, "reconnect is off: one attempt, one close");
    t.diagnostic(`onClose: ${closed[0].error}`);
    // Moddable's socket onError() carries no reason (modules/io/socket/lwip/tcp.c, tlssocket.js),
    // so the app learns only that the link was lost; the broker's log below says why.
    assert.match(String(closed[0].error), /connection lost/);
    // The broker refused the handshake for the right reason.
    const why = kind === "no certificate" ? /peer did not return a certificate/ : /certificate verify failed/;
    await until(`broker log ${why}`, () => broker.log().some((l) => why.test(l)));
    const fail = app.find((e) => e.ev === "pubfail");
    assert.ok(fail, "the QoS 1 publish was rejected");
    assert.equal(fail.error, closed[0].error, "with the same reason");
    assert.equal(broker.log().some((l) => /New client connected .* as xs-tls-rogue/.test(l)), false);
  });
}

test("a wake — 24 readings at QoS 1, flush, disconnect — costs one MQTT round trip after the TLS handshake", { skip: skipNoBroker }, async (t) => {
  const RTT = 400;
  const { device, events } = startDevice(
    {
      port: broker.tlsPort, clientId: "xs-tls-rt", version: 5,
      tls: await deviceCert("xs-tls-rt"),
      publish: [{ topic: "xs/tls/out/reading", payload: "r", qos: 1, count: 24 }],
      // The defaults pipeline at most 8 QoS 1 before CONNACK (the server's Receive
      // Maximum is unknown until then) and keep 16 in flight: a 24-reading wake then
      // takes 2 round trips. Sized to the batch (the broker advertises 100), it takes one.
      limits: { maxPipelined: 24, maxInflight: 24 },
    },
  );
  // 200 ms each way, added by the simulator to every delivery and every write.
  device.faults.latencyMs = RTT / 2;
  try {
    await device.run(5 * MIN);
  } finally {
    device.shutdown();
  }
  const app = appEvents(events);
  assert.deepEqual(panics(events), []);
  assert.equal(app.filter((e) => e.ev === "acked").length, 24);
  // The clock starts at the device's first write after the TLS handshake: the
  // sniffed PUBLISH packets carry the virtual time of the delivery that wrote
  // them, the same one that wrote CONNECT. (Host-side socket events such as
  // socket-connected are stamped before the simulator books the real time spent
  // waiting, so they are not used as the start.)
  const pubs = events.filter((e) => e.type === "publish");
  assert.equal(pubs.length, 24);
  const start = pubs[0].t;
  // All 24 PUBLISH went out in one go, with CONNECT, long before any answer could
  // come back (the few ms between them are the simulated radio time of each write).
  const spread = pubs[pubs.length - 1].t - start;
  assert.ok(spread < RTT / 4, `PUBLISH written over ${spread} ms: ${pubs.map((p) => (p.t - start).toFixed(1)).join(",")}`);
  const flushed = app.find((e) => e.ev === "flushed")!.t;
  const elapsed = flushed - start;
  // Why this cannot pass by accident: CONNACK and the 24 PUBACK can only come back
  // one RTT after the first write, so the lower bound proves the 200 ms latency
  // was really applied (a fast loopback cannot hide a second exchange); a client
  // that waited for CONNACK, or for acknowledgements to free its window (the
  // default limits: 8 pipelined, 16 in flight), needs at least 2 RTT (~870 ms
  // measured with the defaults).
  // Causally, whatever the host's load: every PUBLISH left before CONNACK (or any PUBACK) came back.
  const connected = app.find((e) => e.ev === "connected")!.t;
  const firstAck = Math.min(...app.filter((e) => e.ev === "acked").map((e) => e.t));
  assert.ok(pubs[pubs.length - 1].t <= connected && pubs[pubs.length - 1].t <= firstAck, "all 24 PUBLISH were written before CONNACK came back");
  // In time: the latency is booked in real time while a socket waits, but a delivery's own CPU time is booked
  // from the XS meter, so on a loaded host a round trip can read a little short: the bound keeps one RTT's
  // order of magnitude (a loopback without the added latency answers in ~1 ms).
  assert.ok(elapsed >= RTT / 2, `first write to last PUBACK: ${elapsed} ms < RTT/2: latency not applied?`);
  assert.ok(elapsed < 2 * RTT, `first write to last PUBACK: ${elapsed} ms: more than one round trip`);
  t.diagnostic(`first write to last PUBACK: ${elapsed.toFixed(0)} ms at RTT ${RTT} ms`);
  assert.ok(app.some((e) => e.ev === "done"));
});
