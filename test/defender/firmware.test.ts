// The reference firmware over mutual TLS for two virtual days against the local
// cloud (whose clock is the node's virtual clock): a Defender report rides every
// uplink and none raises an alarm; an `identify` command sent while it sleeps runs
// at its next uplink. (test/defender/sim.test.ts runs a calm node for a week.)
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { type Cloud, type CommandsService, type DefenderService } from "../../tools/cloud/index.ts";
import { issueDeviceCert } from "../../tools/pki/index.ts";
import { buildApp } from "../../tools/sim/image.ts";
import { parseScenario } from "../../tools/sim/scenario.ts";
import { DEFAULT_SCENARIO } from "../../tools/energy/index.ts";
import { makeDevice } from "../sim/helpers.ts";
import { cloudOnDeviceClock } from "../cloud/helpers.ts";

const clocked = cloudOnDeviceClock("xsiot-defender-fw-");
let cloud: Cloud;
before(async () => {
  cloud = await clocked.start();
});

test("reference firmware, two virtual days: a Defender report on every uplink, all accepted, no alarm; identify sent while asleep runs at the next uplink", async () => {
  const thing = "fw-defender";
  const cert = await issueDeviceCert(cloud.pkiDir, thing);
  cloud.registry.create(thing);
  const commands = cloud.service<CommandsService>("commands")!;
  const defender = cloud.service<DefenderService>("defender")!;
  let identifyId: string | undefined;
  const { device, events } = makeDevice(buildApp(new URL("../../firmware", import.meta.url).pathname), {
    name: thing,
    scenario: parseScenario(DEFAULT_SCENARIO, "<default energy scenario>"),
    deviceConfig: {
      cloud: { host: "127.0.0.1", port: cloud.ports.mqtt, tlsPort: cloud.ports.mqtts, caPem: cloud.caPem },
      identity: { thingName: thing, certificate: cert.certPem, key: cert.keyPem },
    },
    onEvent(e) {
      // After the first uplink, while the node sleeps: due within the day.
      if (!identifyId && e.type === "log" && String(e.text).includes('"ev":"uplink"'))
        void commands.send({ thingName: thing, name: "identify", payload: { times: 2 }, ttl: "12h" }).then((x) => (identifyId = x.executionId));
    },
  });
  clocked.follow(device);
  try {
    await device.run(2 * 86_400_000);
  } finally {
    device.shutdown();
    clocked.follow(undefined);
  }
  const trace = events
    .filter((e) => e.type === "log" && String(e.text).startsWith('{"xsiot"'))
    .map((e) => JSON.parse(String(e.text).trim()) as { ev: string; [k: string]: unknown });
  const uplinks = trace.filter((t) => t.ev === "uplink");
  const reported = trace.filter((t) => t.ev === "defender");
  assert.ok(uplinks.length >= 8 && uplinks.every((u) => u.ok), JSON.stringify(uplinks.filter((u) => !u.ok)));
  assert.ok(!trace.some((t) => t.ev === "error"), JSON.stringify(trace.filter((t) => t.ev === "error")));
  // The period is an hour and uplinks come every 6 h: every uplink carries one.
  assert.equal(reported.length, uplinks.length);
  const reports = defender.listReports(thing);
  assert.equal(reports.length, Math.min(48, uplinks.length));
  for (const r of reports.slice(1)) {
    assert.ok(r.metrics.packetsOut! > 2 && r.metrics.bytesOut! > 100, JSON.stringify(r.metrics));
    assert.equal(r.metrics.listeningTcpPorts, 0);
    assert.equal(r.customMetrics.connection_attempts, 1);
  }
  assert.deepEqual(defender.listAlarms({ thingName: thing, all: true }), []);
  assert.ok(identifyId);
  assert.equal(commands.get(identifyId)!.status, "SUCCEEDED");
  assert.ok(trace.some((t) => t.ev === "command" && String(t.message).startsWith(`commands: ${identifyId} SUCCEEDED`)), "the node traced it");
});
