// Every bad input is refused with a clear status and reason, the old image keeps
// running and no partition is switched. One device (1.0.0) takes the jobs in turn.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode } from "../../sdk/cbor/index.ts";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import type { VirtualDevice, TraceEvent } from "../../tools/sim/device.ts";
import { createSigningKey, type SigningKey } from "../../tools/ota/signing.ts";
import { build, createOtaJob, execution, nodeDevice, runUntil, logsOf, TERMINAL, streams } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "xsiot-ota-refuse-"));
let cloud: Cloud;
let key: SigningKey;
let other: SigningKey;
let device: VirtualDevice;
let events: TraceEvent[];
const thing = "ota-refuse";
before(async () => {
  cloud = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
  key = await createSigningKey();
  other = await createSigningKey();
  ({ device, events } = nodeDevice(cloud, build("1.0.0"), thing, key.publicKey, { requestTimeoutMs: 1000, maxTries: 3 }));
  await device.run(1000);
});
after(async () => {
  device.shutdown();
  await cloud.close();
  rmSync(dir, { recursive: true, force: true });
});

const image = () => build("1.1.0").bytes;

async function expectRefused(job: { jobId: string }, status: string, reason: RegExp, opts: { downloaded?: boolean } = {}): Promise<void> {
  const from = events.length;
  const ended = await runUntil(device, () => TERMINAL.has(execution(cloud, job.jobId, thing).status), 60_000);
  const ex = execution(cloud, job.jobId, thing);
  const trace = logsOf(events.slice(from)).join("\n");
  assert.ok(ended, `job did not end: ${JSON.stringify(ex)}\n${trace}`);
  assert.equal(ex.status, status, `${JSON.stringify(ex)}\n${trace}`);
  assert.match(ex.statusDetails?.reason ?? "", reason);
  const mine = events.slice(from);
  assert.ok(!mine.some((e) => e.type === "update-complete" || e.type === "boot"), "no partition switch, no reboot");
  assert.equal(device.runningImage?.version, "1.0.0");
  const ota = device.storage.readOtaData();
  assert.equal(ota.boot, "ota_0");
  assert.notEqual(ota.states.ota_1, "new");
  assert.notEqual(ota.states.ota_1, "pending-verify");
  // Blocks go to the slot through embedded:storage/flash; embedded:update is opened only to
  // switch a verified image (sdk/ota/agent.ts), so a refused job never opens it.
  assert.ok(!mine.some((e) => e.type === "update-open"), "no switch begun");
  if (!opts.downloaded) assert.ok(!mine.some((e) => e.type === "flash-write" && e.partition === "ota_1"), "nothing written for a refused document");
}

test("unsigned image: FAILED, nothing written", async () => {
  const job = await createOtaJob(cloud, thing, image(), "1.1.0", key.keyPem, { tweak: (d) => delete d.afr_ota.files[0]["sig-sha256-ecdsa"] });
  await expectRefused(job, "FAILED", /unsigned/);
});

test("one flipped byte on the stream: signature does not verify, FAILED, nothing switched", async () => {
  const bad = image().slice();
  bad[Math.floor(bad.length / 2)] ^= 0x01;
  const job = await createOtaJob(cloud, thing, bad, "1.1.0", key.keyPem, { signWith: image() });
  await expectRefused(job, "FAILED", /signature does not verify/, { downloaded: true });
});

test("truncated image: FAILED, nothing switched", async () => {
  const cut = image().slice(0, image().length - 1000);
  const job = await createOtaJob(cloud, thing, cut, "1.1.0", key.keyPem, { signWith: image() });
  await expectRefused(job, "FAILED", /signature does not verify/, { downloaded: true });
});

test("signed with another key: FAILED", async () => {
  const job = await createOtaJob(cloud, thing, image(), "1.1.0", other.keyPem);
  await expectRefused(job, "FAILED", /signature does not verify/, { downloaded: true });
});

test("oversized image (larger than the inactive partition): FAILED before anything is written", async () => {
  const job = await createOtaJob(cloud, thing, image(), "1.1.0", key.keyPem, { tweak: (d) => (d.afr_ota.files[0].filesize = 2 * 1024 * 1024) });
  await expectRefused(job, "FAILED", /does not fit the 1572864-byte partition/);
});

test("downgrade and same version: REJECTED (anti-rollback)", async () => {
  const down = await createOtaJob(cloud, thing, build("0.9.0").bytes, "0.9.0", key.keyPem);
  await expectRefused(down, "REJECTED", /0\.9\.0 is not newer than 1\.0\.0/);
  const same = await createOtaJob(cloud, thing, build("1.0.0").bytes, "1.0.0", key.keyPem);
  await expectRefused(same, "REJECTED", /not newer/);
});

test("job documents with missing or wrong-typed fields: FAILED with the field named", async () => {
  const cases: [string, (d: Record<string, any>) => void, RegExp][] = [
    ["no streamname", (d) => delete d.afr_ota.streamname, /streamname/],
    ["protocols without MQTT", (d) => (d.afr_ota.protocols = ["HTTP"]), /MQTT/],
    ["filesize as a string", (d) => (d.afr_ota.files[0].filesize = "237462"), /filesize/],
    ["no files", (d) => (d.afr_ota.files = []), /files/],
    ["fileid negative", (d) => (d.afr_ota.files[0].fileid = -1), /fileid/],
    ["no certfile", (d) => delete d.afr_ota.files[0].certfile, /certfile/],
    ["signature not base64", (d) => (d.afr_ota.files[0]["sig-sha256-ecdsa"] = "not*base64!"), /base64/],
    ["version missing", (d) => delete d.afr_ota.files[0].fileversion, /fileversion/],
    ["afr_ota not an object", (d) => (d.afr_ota = "yes"), /afr_ota|malformed/],
  ];
  for (const [name, tweak, reason] of cases) {
    const job = await createOtaJob(cloud, thing, image(), "1.1.0", key.keyPem, { tweak });
    await assert.doesNotReject(expectRefused(job, "FAILED", reason), name);
  }
});

test("fake stream: wrong file id, block id out of range, wrong length -> FAILED with the reason, nothing switched", async () => {
  const cases: [string, (r: { f: number; l: number; o: number }) => unknown, RegExp][] = [
    ["wrong file id", (r) => ({ f: 7, i: r.o, l: r.l, p: new Uint8Array(r.l) }), /file id 7, expected 1/],
    ["block id out of range", (r) => ({ f: r.f, i: 100000, l: r.l, p: new Uint8Array(r.l) }), /block id 100000 out of range/],
    ["wrong length", (r) => ({ f: r.f, i: r.o, l: 100, p: new Uint8Array(100) }), /has 100 bytes/],
    ["not CBOR", () => new Uint8Array([0xff, 0x00]), /not valid CBOR/],
  ];
  for (const [name, block, reason] of cases) {
    const streamId = `fake-${name.replace(/\W+/g, "-")}`;
    streams(cloud).putStream(streamId, [{ fileId: 1, data: image() }]);
    streams(cloud).override(streamId, async ({ request, sendData }) => {
      const v = block(request!);
      await sendData(v instanceof Uint8Array ? v : encode(v));
      return true;
    });
    const job = await createOtaJob(cloud, thing, image(), "1.1.0", key.keyPem, { streamId });
    await assert.doesNotReject(expectRefused(job, "FAILED", reason, { downloaded: true }), name);
  }
});

test("a stream that stops answering: re-requested, then FAILED; a stream the service rejects: FAILED with its message", async () => {
  let asked = 0;
  streams(cloud).putStream("silent", [{ fileId: 1, data: image() }]);
  streams(cloud).override("silent", () => {
    asked++;
    return true; // swallow every request
  });
  const job = await createOtaJob(cloud, thing, image(), "1.1.0", key.keyPem, { streamId: "silent" });
  await expectRefused(job, "FAILED", /stream silent stopped answering/, { downloaded: true });
  assert.equal(asked, 3, "maxTries requests for the window");
  const gone = await createOtaJob(cloud, thing, image(), "1.1.0", key.keyPem, { streamId: "gone" });
  streams(cloud).deleteStream("gone");
  await expectRefused(gone, "FAILED", /rejected the request: ResourceNotFound stream gone not found/, { downloaded: true });
});

test("job canceled during the download: download stops, nothing switched", async () => {
  streams(cloud).putStream("slow", [{ fileId: 1, data: image() }]);
  let first = true;
  let jobId = "";
  streams(cloud).override("slow", async ({ request, sendData }) => {
    if (!first) return true; // later windows never come
    first = false;
    const r = request!;
    await sendData({ f: 1, i: r.o, l: r.l, p: image().subarray(r.o * r.l, (r.o + 1) * r.l) });
    setTimeout(() => void cloud.jobs.cancelJob(jobId, { force: true }), 50);
    return true;
  });
  const from = events.length;
  ({ jobId } = await createOtaJob(cloud, thing, image(), "1.1.0", key.keyPem, { streamId: "slow" }));
  const done = await runUntil(device, () => logsOf(events.slice(from)).some((l) => l.includes(`job ${jobId} canceled`)), 30_000);
  assert.ok(done, logsOf(events.slice(from)).join("\n"));
  assert.equal(execution(cloud, jobId, thing).status, "CANCELED");
  assert.ok(!events.slice(from).some((e) => e.type === "update-open"), "no switch begun");
  assert.equal(device.runningImage?.version, "1.0.0");
  const ota = device.storage.readOtaData();
  assert.equal(ota.boot, "ota_0");
  assert.notEqual(ota.states.ota_1, "new", "the slot is not set to boot");
});
