// Fleet provisioning on the virtual ESP32 (real XS engine) against the local cloud
// over mutual TLS: first boot with only a claim, an unknown serial, power cuts at
// random instants, and two devices sharing the claim at once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../../tools/sim/image.ts";
import type { TraceEvent, VirtualDevice } from "../../tools/sim/device.ts";
import { certificateId, createCsr, issueClaimCert, type IssuedFiles } from "../../tools/pki/index.ts";
import { consoleLogger, type Cloud } from "../../tools/cloud/index.ts";
import type { ProvisioningService } from "../../tools/cloud/provisioning.ts";
import { makeDevice } from "../sim/helpers.ts";
import { Device, tempDir, testCloud, sleep } from "../cloud/helpers.ts";

const NS = "xsiot-prov";
const app = buildApp(new URL("./apps/node", import.meta.url).pathname);
const tmp = tempDir();
let cloud: Cloud;
let claim: IssuedFiles;

before(async () => {
  cloud = await testCloud({ dir: tmp.dir, ...(process.env.XSIOT_DEBUG ? { log: consoleLogger } : {}) });
  claim = await issueClaimCert(cloud.pkiDir, "factory");
  cloud.service<ProvisioningService>("provisioning")!.putTemplate({
    templateName: "sensors",
    serialPattern: "SN-[0-9]{3}",
    thingNamePattern: "sensor-${SerialNumber}",
    attributes: { board: "${board}" },
  });
});
after(async () => {
  await cloud.close();
  tmp.cleanup();
});

const text = (d: VirtualDevice, key: string) => {
  const v = d.storage.kvRead(NS, key);
  return v ? new TextDecoder().decode(v) : undefined;
};
const logsOf = (events: TraceEvent[]) => events.filter((e) => e.type === "log").map((e) => String(e.text).trim());

function newDevice(serial: string, opts: { claimIn?: "kv" | "config"; csr?: { csr: string; key: string }; onEvent?: (e: TraceEvent, d: VirtualDevice) => void } = {}) {
  const deviceConfig: Record<string, unknown> = { port: cloud.ports.mqtts, ca: cloud.caPem, serial, template: "sensors", ...(opts.csr ? { csr: opts.csr } : {}) };
  if (opts.claimIn === "config") deviceConfig.claim = { certificate: claim.certPem, key: claim.keyPem };
  const made = makeDevice(app, { dir: mkdtempSync(join(tmpdir(), "xsiot-prov-")), deviceConfig, onEvent: opts.onEvent, maxPanics: 3 });
  if (opts.claimIn !== "config") {
    made.device.storage.kvWrite(NS, "claimCert", new TextEncoder().encode(claim.certPem));
    made.device.storage.kvWrite(NS, "claimKey", new TextEncoder().encode(claim.keyPem));
  }
  return made;
}

/** Never half-provisioned: a stored thing name comes with its certificate and key, and
 * that certificate is ACTIVE for that thing in the cloud; and claim or identity is always there. */
function checkStorage(d: VirtualDevice, where: string): "provisioned" | "claim" {
  const thing = text(d, "thing");
  if (thing !== undefined) {
    const cert = text(d, "cert");
    const key = text(d, "key");
    assert.ok(cert?.includes("BEGIN CERTIFICATE") && key?.includes("PRIVATE KEY"), `${where}: thing ${thing} stored without its certificate/key`);
    const rec = cloud.registry.certificate(certificateId(cert!));
    assert.equal(rec?.status, "ACTIVE", `${where}: stored certificate is not active in the cloud`);
    assert.equal(rec?.thingName, thing, `${where}: stored certificate belongs to another thing`);
    return "provisioned";
  }
  assert.ok(text(d, "claimCert") && text(d, "claimKey"), `${where}: neither identity nor claim in storage`);
  return "claim";
}

test("first boot with only a claim in storage: provisions, forgets the claim, reconnects as the thing; later boots use the stored identity", async () => {
  const { device, events } = newDevice("SN-100");
  try {
    await device.run(5 * 60_000);
    const logs = logsOf(events);
    assert.ok(logs.includes("identity sensor-SN-100 (provisioned now)"), logs.join("\n"));
    assert.ok(logs.includes("published as sensor-SN-100"), logs.join("\n"));
    assert.equal(checkStorage(device, "end"), "provisioned");
    assert.equal(text(device, "claimCert"), undefined, "claim deleted from storage");
    assert.equal(text(device, "claimKey"), undefined);
    assert.deepEqual(cloud.registry.get("sensor-SN-100")?.attributes, { board: "esp-wroom-32" });
    assert.equal((cloud.shadows.get("sensor-SN-100") as any).state.reported.serial, "SN-100", "shadow update as the thing reached the cloud");
    const topics = events.filter((e) => e.type === "publish").map((e) => String(e.topic));
    assert.deepEqual(topics.slice(0, 2), ["$aws/certificates/create/json", "$aws/provisioning-templates/sensors/provision/json"]);
    assert.ok(topics.includes("dt/sensor-SN-100/boot"));
    for (const e of events) assert.ok(!JSON.stringify(e).includes("PRIVATE KEY"), `a key appeared in the trace: ${e.type}`);

    // The next wake: no claim, no provisioning traffic, straight to the thing.
    const before = events.length;
    await device.run(70 * 60_000);
    const later = events.slice(before);
    assert.ok(logsOf(later).includes("identity sensor-SN-100 (stored)"), logsOf(later).join("\n"));
    assert.ok(!later.some((e) => e.type === "publish" && String(e.topic).startsWith("$aws/certificates")), "the claim is never used again");
  } finally {
    device.shutdown();
  }
});

test("create-from-csr: the device's own key (passed in, as a secure element would hold it) never crosses the network", async () => {
  const { csrPem, keyPem } = await createCsr("SN-150");
  const { device, events } = newDevice("SN-150", { csr: { csr: csrPem, key: keyPem } });
  try {
    await device.run(2 * 60_000);
    assert.ok(logsOf(events).includes("published as sensor-SN-150"), logsOf(events).join("\n"));
    assert.equal(events.find((e) => e.type === "publish")?.topic, "$aws/certificates/create-from-csr/json");
    assert.equal(text(device, "key"), keyPem, "the stored key is the device's own");
    assert.equal(checkStorage(device, "end"), "provisioned");
  } finally {
    device.shutdown();
  }
});

test("unknown serial: rejected with a clear trace, the device backs off in deep sleep instead of looping", async () => {
  const { device, events } = newDevice("XX-999", { claimIn: "config" });
  try {
    await device.run(3 * 3600_000);
    const failures = logsOf(events).filter((l) => l.startsWith("provisioning failed"));
    assert.match(failures[0] ?? "", /rejected at provision.*403 AccessDenied.*XX-999.*not allowed.*attempt 1, retry in 6\d s/);
    // 60 s doubling: attempts at ~0, 1, 3, 7, 15, 31, 63, 127 min -> at most 8 in 3 h.
    assert.ok(failures.length >= 5 && failures.length <= 8, `${failures.length} attempts in 3 h:\n${failures.join("\n")}`);
    const sleeps = events.filter((e) => e.type === "sleep").map((e) => Number(e.us));
    for (let i = 1; i < sleeps.length; i++) assert.ok(sleeps[i] > sleeps[i - 1], `backoff grows: ${sleeps.join(", ")}`);
    assert.equal(cloud.registry.get("sensor-XX-999"), undefined);
    assert.equal(text(device, "thing"), undefined);
    assert.equal(text(device, "fails"), String(failures.length), "failure count kept in storage across boots");
  } finally {
    device.shutdown();
  }
});

test("power cuts at random instants across the provisioning steps: always ends provisioned, never half-provisioned", async (t) => {
  let seed = 0x5eed;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const RUNS = 24;
  const runOne = async (n: number) => {
    const serial = `SN-${String(200 + n).padStart(3, "0")}`;
    let cutsLeft = 1 + Math.floor(rand() * 3);
    const plan = { atEvent: Math.floor(rand() * 14), inKv: rand() < 0.4, kvPoint: Math.floor(rand() * 10) };
    let seen = 0;
    let kvPoints = 0;
    let boots = 0;
    const { device, events } = newDevice(serial, {
      onEvent(e, d) {
        if (e.type === "boot") {
          boots++;
          checkStorage(d, `${serial} boot ${boots}`);
        }
        if (cutsLeft > 0 && !plan.inKv && ["socket-open", "socket-connected", "publish", "kv-write", "log"].includes(e.type) && seen++ === plan.atEvent) {
          cutsLeft--;
          seen = 0;
          plan.atEvent = Math.floor(rand() * 14);
          d.powerCut(200 + Math.floor(rand() * 2000));
        }
      },
    });
    device.storage.powerCutHook = (point) => {
      if (!plan.inKv || cutsLeft <= 0 || !point.startsWith("kv.")) return false;
      if (kvPoints++ !== plan.kvPoint) return false;
      cutsLeft--;
      kvPoints = 0;
      plan.kvPoint = Math.floor(rand() * 10);
      return true;
    };
    // and one cut at a random virtual instant of the first second or two
    device.at(Math.floor(rand() * 1500), () => rand() < 0.5 && device.powerCut(500));
    try {
      await device.run(20 * 60_000);
      device.storage.powerCutHook = undefined;
      assert.equal(checkStorage(device, `${serial} end`), "provisioned", `${serial}: ${logsOf(events).join("\n")}`);
      assert.equal(text(device, "claimCert"), undefined, `${serial}: claim left behind`);
      const logs = logsOf(events);
      assert.ok(logs.includes(`published as sensor-${serial}`), `${serial} never worked as the thing:\n${logs.join("\n")}`);
      const creates = events.filter((e) => e.type === "publish" && e.topic === "$aws/certificates/create/json").length;
      const provisions = events.filter((e) => e.type === "publish" && String(e.topic).endsWith("/provision/json")).length;
      return { cuts: events.filter((e) => e.type === "power-off" || e.type === "power-cut").length, boots, creates, provisions };
    } finally {
      device.shutdown();
    }
  };
  const results: { cuts: number; boots: number; creates: number; provisions: number }[] = [];
  for (let i = 0; i < RUNS; i += 4) results.push(...(await Promise.all([0, 1, 2, 3].map((k) => runOne(i + k)))));
  const cuts = results.reduce((s, r) => s + r.cuts, 0);
  const restarted = results.filter((r) => r.creates > 1).length;
  const afterProvision = results.filter((r) => r.provisions > 1).length;
  t.diagnostic(`${RUNS} runs, ${cuts} power cuts, ${results.reduce((s, r) => s + r.boots, 0)} boots; ${restarted} runs asked for a certificate again, ${afterProvision} sent provision more than once`);
  assert.ok(cuts >= RUNS, `power was cut ${cuts} times over ${RUNS} runs`);
  assert.ok(restarted >= 3, "some cuts fell between create and the commit (the restart path ran)");
});

test("two devices with the same claim at once: each gets its own certificate; an eavesdropping claim holder sees nothing", async () => {
  const spy = await Device.connect(cloud.tlsUrl!, { clientId: "SN-999", protocolVersion: 5, ca: cloud.caPem, cert: claim.certPem, key: claim.keyPem, servername: "localhost" });
  await spy.client.subscribeAsync(["$aws/certificates/create/json/accepted", "$aws/provisioning-templates/sensors/provision/json/accepted"], { qos: 1 });
  const a = newDevice("SN-301");
  const b = newDevice("SN-302");
  try {
    await Promise.all([a.device.run(2 * 60_000), b.device.run(2 * 60_000)]);
    for (const [d, serial] of [[a, "SN-301"], [b, "SN-302"]] as const) {
      assert.equal(checkStorage(d.device, serial), "provisioned");
      assert.ok(!logsOf(d.events).some((l) => l.includes("ignored a message")), `${serial} received an answer meant for another device`);
    }
    assert.notEqual(text(a.device, "key"), text(b.device, "key"));
    await sleep(100);
    assert.deepEqual(spy.messages, [], "the eavesdropper received no answer (and no key)");
  } finally {
    a.device.shutdown();
    b.device.shutdown();
    await spy.end();
  }
});
