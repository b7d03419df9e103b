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
import { Device, tempDir, testCloud } from "../cloud/helpers.ts";

const NS = "xsiot-prov";
const app = buildApp(new URL("./apps/node", import.meta.url).pathname);
const tmp = tempDir();
let cloud: Cloud;
let claim: IssuedFiles;
/** Cloud log lines go to these watchers too (tests cut a device's power at a cloud-side instant). */
const cloudWatchers = new Set<(line: string) => void>();
const watchedLog = {
  info: (m: string) => {
    if (process.env.XSIOT_DEBUG) consoleLogger.info(m);
    for (const w of cloudWatchers) w(m);
  },
  warn: (m: string) => process.env.XSIOT_DEBUG && consoleLogger.warn(m),
  error: (m: string) => process.env.XSIOT_DEBUG && consoleLogger.error(m),
};

before(async () => {
  cloud = await testCloud({ dir: tmp.dir, log: watchedLog });
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

/** The sim keeps NVS's type with each value (tools/sim/moddable/key-value.ts: a one-byte tag,
 * "S" for a string): the factory step writes strings as the device's KeyValue format "string" would. */
const NVS_STRING = 0x53;
const nvsString = (s: string) => Uint8Array.from([NVS_STRING, ...new TextEncoder().encode(s)]);
const text = (d: VirtualDevice, key: string) => {
  const v = d.storage.kvRead(NS, key);
  if (!v) return undefined;
  assert.equal(v[0], NVS_STRING, `${key} is stored as an NVS string`);
  return new TextDecoder().decode(v.subarray(1));
};
const logsOf = (events: TraceEvent[]) => events.filter((e) => e.type === "log").map((e) => String(e.text).trim());

function newDevice(serial: string, opts: { claimIn?: "kv" | "config"; csr?: { csr: string; key: string }; onEvent?: (e: TraceEvent, d: VirtualDevice) => void } = {}) {
  const deviceConfig: Record<string, unknown> = { port: cloud.ports.mqtts, ca: cloud.caPem, serial, template: "sensors", ...(opts.csr ? { csr: opts.csr } : {}) };
  if (opts.claimIn === "config") deviceConfig.claim = { certificate: claim.certPem, key: claim.keyPem };
  // The cloud makes an RSA-2048 key for each create (as AWS does; Moddable's TLS needs one): 50-800 ms
  // of host CPU, seconds on a loaded host, after the request's PUBACK has already arrived. The device
  // would wait for it in real time: peerBusy holds its virtual clock while the cloud works.
  const made = makeDevice(app, { dir: mkdtempSync(join(tmpdir(), "xsiot-prov-")), deviceConfig, onEvent: opts.onEvent, maxPanics: 3, replyWaitMs: 10_000, peerBusy: () => cloud.busy() });
  if (opts.claimIn !== "config") {
    made.device.storage.kvWrite(NS, "claimCert", nvsString(claim.certPem));
    made.device.storage.kvWrite(NS, "claimKey", nvsString(claim.keyPem));
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
    await spy.roundTrip();
    assert.deepEqual(spy.messages, [], "the eavesdropper received no answer (and no key)");
  } finally {
    a.device.shutdown();
    b.device.shutdown();
    await spy.end();
  }
});

/** Certificates the cloud holds for a device (by claim client id) or its thing, by status. */
function certsOf(serial: string, thing: string) {
  const all = cloud.registry.certificates().filter((c) => c.clientId === serial || c.thingName === thing);
  return { active: all.filter((c) => c.status === "ACTIVE"), pending: all.filter((c) => c.status === "PENDING_ACTIVATION") };
}

async function everyStep(t: { diagnostic(m: string): void }, mode: "create" | "csr", base: number) {
  const csrOf = async (serial: string) => (mode === "csr" ? { csr: await createCsr(serial).then((c) => ({ csr: c.csrPem, key: c.keyPem })) } : {});
  const createTopic = mode === "csr" ? "$aws/certificates/create-from-csr/json" : "$aws/certificates/create/json";
  // One clean run gives the steps: each trace event of the boot that provisions, each
  // key-value write point, and the two cloud-side instants (certificate issued; thing
  // committed and activated, its answer not yet sent).
  const reference = newDevice(`SN-${base + 99}`, await csrOf(`SN-${base + 99}`));
  let refKv = 0;
  reference.device.storage.powerCutHook = (point) => (point.startsWith("kv.") && refKv++, false);
  await reference.device.run(60_000);
  reference.device.shutdown();
  const bootAt = reference.events.findIndex((e) => e.type === "boot");
  const doneAt = reference.events.findIndex((e) => e.type === "log" && String(e.text).startsWith("published as"));
  assert.ok(bootAt >= 0 && doneAt > bootAt && refKv >= 6, `reference run: boot ${bootAt}, done ${doneAt}, kv points ${refKv}`);
  type Step = { kind: "event"; index: number; what: string } | { kind: "kv"; index: number } | { kind: "cloud"; line: RegExp; what: string };
  const steps: Step[] = [
    ...reference.events.slice(bootAt, doneAt + 1).map((e, index) => ({ kind: "event" as const, index, what: `${e.type}${e.topic ? ` ${e.topic}` : ""}${e.key ? ` ${e.key}` : ""}` })),
    ...Array.from({ length: refKv }, (_, index) => ({ kind: "kv" as const, index })),
    { kind: "cloud", line: /^provisioning: certificate \S+ for (SN-\d+)/, what: "certificate issued" },
    { kind: "cloud", line: /^provisioning: (SN-\d+) is thing /, what: "thing activated, answer unsent" },
  ];
  assert.ok(steps.length <= 99, `${steps.length} steps fit the serial range`);

  const runStep = async (step: Step, n: number) => {
    const serial = `SN-${base + n}`;
    const csr = await csrOf(serial);
    const thing = `sensor-${serial}`;
    const problems: string[] = [];
    let cut = false;
    let seen = 0;
    const { device, events } = newDevice(serial, {
      ...csr,
      onEvent(e, d) {
        if (e.type === "boot") {
          try {
            checkStorage(d, `${serial} boot`);
          } catch (err) {
            problems.push((err as Error).message);
          }
          const { active } = certsOf(serial, thing);
          if (active.length > 1) problems.push(`${serial}: ${active.length} active certificates for one thing at a boot`);
        }
        if (step.kind === "event" && !cut && e.type !== "flash" && seen++ === step.index) {
          cut = true;
          d.powerCut(700);
        }
      },
    });
    let kvPoints = 0;
    device.storage.powerCutHook = (point) => {
      if (step.kind !== "kv" || cut || !point.startsWith("kv.") || kvPoints++ !== step.index) return false;
      cut = true;
      return true;
    };
    const watcher = (line: string) => {
      if (step.kind === "cloud" && !cut && step.line.exec(line)?.[1] === serial) {
        cut = true;
        device.powerCut(700);
      }
    };
    cloudWatchers.add(watcher);
    try {
      await device.run(20 * 60_000);
    } finally {
      cloudWatchers.delete(watcher);
      device.shutdown();
      device.storage.powerCutHook = undefined;
    }
    const label = `${step.kind} ${"what" in step ? step.what : ""}#${"index" in step ? step.index : ""} (${serial})`;
    assert.ok(cut, `${label}: the cut happened`);
    assert.deepEqual(problems, [], label);
    assert.equal(checkStorage(device, label), "provisioned", `${label}: ${logsOf(events).join("\n")}`);
    const stored = certificateId(text(device, "cert")!);
    const { active, pending } = certsOf(serial, thing);
    assert.deepEqual(active.map((c) => c.certificateId), [stored], `${label}: the one active certificate is the stored one`);
    assert.deepEqual(pending.map((c) => c.certificateId), [], `${label}: certificates issued before the cut are no longer awaiting activation`);
    return events.filter((e) => e.type === "publish" && e.topic === createTopic).length;
  };
  let again = 0;
  for (let i = 0; i < steps.length; i += 4) {
    const creates = await Promise.all(steps.slice(i, i + 4).map((s, k) => runStep(s, i + k)));
    again += creates.filter((c) => c > 1).length;
  }
  t.diagnostic(`${mode}: ${steps.length} steps (${steps.filter((s) => s.kind === "event").length} trace events, ${refKv} key-value write points, 2 cloud instants); ${again} cuts made the device ask for a certificate again`);
  assert.ok(again >= 3, "some cuts fell between create and the commit");
  const stray = cloud.registry.certificates().filter((c) => c.status === "ACTIVE" && !c.thingName);
  assert.deepEqual(stray, [], "no active certificate without a thing");
}

test("a power cut at every step of provisioning leaves no active orphan certificate once the device is provisioned", (t) => everyStep(t, "create", 400));
test("the same at every step of provisioning with create-from-csr", (t) => everyStep(t, "csr", 500));
