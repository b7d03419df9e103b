// Shadow and jobs semantics over MQTT, and durability across a restart.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Cloud } from "../../tools/cloud/index.ts";
import { Device, tempDir, testCloud } from "./helpers.ts";

const tmp = tempDir();
let cloud: Cloud;
let dev: Device;
const S = "$aws/things/s1/shadow";
before(async () => {
  cloud = await testCloud({ dir: tmp.dir, minuteMs: 100 });
  dev = await Device.connect(cloud.url, { clientId: "s1", protocolVersion: 5 });
  await dev.client.subscribeAsync(["$aws/things/s1/#"], { qos: 1 });
});
after(async () => {
  await dev.end();
  await cloud.close();
  tmp.cleanup();
});

test("shadow: bad input is answered as AWS does, nothing crashes", async () => {
  const cases: [unknown, number, RegExp][] = [
    ["{not json", 400, /Invalid JSON/],
    ["[1,2]", 400, /Invalid JSON/],
    [{ clientToken: "t" }, 400, /Missing required node: state/],
    [{ state: 5 }, 400, /State node must be an object/],
    [{ state: { desired: [1] } }, 400, /Desired node must be an object/],
    [{ state: { reported: "x" } }, 400, /Reported node must be an object/],
    [{ state: { delta: {} } }, 400, /invalid node/],
    [{ state: { desired: { a: 1 } }, version: "3" }, 400, /Invalid version/],
    [{ state: { desired: { a: 1 } }, clientToken: "x".repeat(65) }, 400, /Invalid clientToken/],
    [{ state: { desired: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } } } }, 400, /nesting/],
    [{ state: { desired: { blob: "x".repeat(9000) } } }, 413, /exceeds the maximum size/],
  ];
  for (const [payload, code, msg] of cases) {
    const r = await dev.request(`${S}/update`, payload);
    assert.equal(r.topic, `${S}/update/rejected`, JSON.stringify(payload).slice(0, 60));
    assert.equal(r.json.code, code);
    assert.match(r.json.message, msg);
    assert.equal(typeof r.json.timestamp, "number");
  }
  const tok = await dev.request(`${S}/update`, { state: 1, clientToken: "tok-1" });
  assert.equal(tok.json.clientToken, "tok-1", "clientToken echoed on rejection");
  const missing = await dev.request(`${S}/get`, "");
  assert.equal(missing.json.code, 404);
});

test("shadow: versions, delta, metadata, null deletes, documents, delete keeps version", async () => {
  const t0 = Math.floor(Date.now() / 1000);
  const deltaMsg = dev.next(`${S}/update/delta`);
  const docs1 = dev.next(`${S}/update/documents`);
  const u1 = await dev.request(`${S}/update`, { state: { desired: { led: "on", cfg: { rate: 10, mode: "eco" } }, reported: { led: "off", cfg: { rate: 10, mode: "fast" } } }, clientToken: "c1" });
  assert.equal(u1.topic, `${S}/update/accepted`);
  assert.equal(u1.json.version, 1);
  assert.equal(u1.json.clientToken, "c1");
  assert.ok(u1.json.metadata.desired.cfg.rate.timestamp >= t0);
  const d = await deltaMsg;
  assert.deepEqual(d.json.state, { led: "on", cfg: { mode: "eco" } }, "delta: only desired keys that differ from reported");
  assert.equal(d.json.version, 1);
  assert.ok(d.json.metadata.cfg.mode.timestamp >= t0);
  const doc1 = await docs1;
  assert.equal(doc1.json.previous, undefined);
  assert.equal(doc1.json.current.version, 1);

  // out-of-order version -> 409, document unchanged
  const stale = await dev.request(`${S}/update`, { state: { desired: { led: "off" } }, version: 0 });
  assert.equal(stale.json.code, 409);
  assert.match(stale.json.message, /Version conflict/);

  // reported catching up removes the delta; a reported-only update publishes no delta
  const before = dev.messages.length;
  const docs2 = dev.next(`${S}/update/documents`);
  const u2 = await dev.request(`${S}/update`, { state: { reported: { led: "on", cfg: { mode: "eco" } } }, version: 1 });
  assert.equal(u2.json.version, 2);
  const doc2 = await docs2;
  assert.equal(doc2.json.previous.version, 1);
  assert.deepEqual(doc2.json.current.state.reported, { led: "on", cfg: { rate: 10, mode: "eco" } });
  assert.ok(!dev.messages.slice(before).some((m) => m.topic.endsWith("/update/delta")));
  const g = await dev.request(`${S}/get`, { clientToken: "g2" });
  assert.equal(g.json.state.delta, undefined);
  assert.equal(g.json.clientToken, "g2");

  // null deletes a key (and its metadata); null section deletes the section
  const u3 = await dev.request(`${S}/update`, { state: { desired: { cfg: { rate: null } }, reported: null } });
  assert.equal(u3.json.version, 3);
  const g3 = await dev.request(`${S}/get`, {});
  assert.deepEqual(g3.json.state.desired, { led: "on", cfg: { mode: "eco" } });
  assert.equal(g3.json.state.reported, undefined);
  assert.equal(g3.json.metadata.desired.cfg.rate, undefined);
  assert.deepEqual(g3.json.state.delta, { led: "on", cfg: { mode: "eco" } });

  // delete, then update continues the version
  const del = await dev.request(`${S}/delete`, { version: 2 });
  assert.equal(del.json.code, 409);
  const del2 = await dev.request(`${S}/delete`, "");
  assert.equal(del2.topic, `${S}/delete/accepted`);
  assert.equal(del2.json.version, 3);
  assert.equal((await dev.request(`${S}/get`, "")).json.code, 404);
  const u4 = await dev.request(`${S}/update`, { state: { reported: { boot: 1 } } });
  assert.equal(u4.json.version, 4);
});

test("shadow: named shadows are separate documents", async () => {
  const N = "$aws/things/s1/shadow/name/ota";
  const r = await dev.request(`${N}/update`, { state: { desired: { v: "2" } } });
  assert.equal(r.json.version, 1);
  assert.equal((await dev.request(`${N}/get`, "")).json.state.desired.v, "2");
  assert.equal(cloud.shadows.get("s1").state !== undefined, true);
  const bad = await dev.request("$aws/things/s1/shadow/name/bad.name/get", "");
  assert.equal(bad.json.code, 400);
});

const J = "$aws/things/s1/jobs";
test("jobs: transitions, expectedVersion, terminal states, notify", async () => {
  cloud.registry.ensure("s1");
  const notify = dev.next(`${J}/notify-next`);
  await cloud.jobs.createJob({ jobId: "j-a", targets: ["s1"], document: { op: "a" } });
  assert.equal((await notify).json.execution.jobId, "j-a");
  await cloud.jobs.createJob({ jobId: "j-b", targets: ["s1"], document: { op: "b" } });

  const pend = await dev.request(`${J}/get`, { clientToken: "p" });
  assert.deepEqual(pend.json.queuedJobs.map((j: any) => j.jobId), ["j-a", "j-b"]);

  const bad = await dev.request(`${J}/j-a/update`, { status: "CANCELED" });
  assert.equal(bad.json.code, "InvalidStateTransition");
  const badType = await dev.request(`${J}/j-a/update`, { status: "IN_PROGRESS", statusDetails: { n: 5 } });
  assert.equal(badType.json.code, "InvalidRequest");
  const badJson = await dev.request(`${J}/j-a/update`, "{oops");
  assert.equal(badJson.json.code, "InvalidJson");

  const start = await dev.request(`${J}/start-next`, { statusDetails: { step: "1" }, clientToken: "sn" });
  assert.equal(start.json.execution.jobId, "j-a");
  assert.equal(start.json.execution.status, "IN_PROGRESS");
  assert.equal(start.json.clientToken, "sn");
  const v = start.json.execution.versionNumber;

  const mismatch = await dev.request(`${J}/j-a/update`, { status: "SUCCEEDED", expectedVersion: v - 1 });
  assert.equal(mismatch.json.code, "VersionMismatch");
  assert.equal(mismatch.json.executionState.versionNumber, v);

  const nextNotify = dev.next((t) => t === `${J}/notify-next`);
  const ok = await dev.request(`${J}/j-a/update`, { status: "FAILED", expectedVersion: v, statusDetails: { reason: "crc" }, includeJobExecutionState: true, includeJobDocument: true });
  assert.equal(ok.json.executionState.status, "FAILED");
  assert.deepEqual(ok.json.jobDocument, { op: "a" });
  assert.equal((await nextNotify).json.execution.jobId, "j-b", "notify-next moves to the next job");

  const again = await dev.request(`${J}/j-a/update`, { status: "IN_PROGRESS" });
  assert.equal(again.json.code, "TerminalStateReached");
  const nf = await dev.request(`${J}/nope/get`, {});
  assert.equal(nf.json.code, "ResourceNotFound");

  // cancel: QUEUED -> CANCELED with notify
  const canceled = dev.next((t) => t === `${J}/notify`);
  await cloud.jobs.cancelJob("j-b");
  assert.deepEqual((await canceled).json.jobs, {});
  assert.equal(cloud.jobs.execution("j-b", "s1")?.status, "CANCELED");
  const none = await dev.request(`${J}/start-next`, {});
  assert.equal(none.json.execution, undefined);
});

test("jobs: stepTimeoutInMinutes moves an execution to TIMED_OUT", async (t) => {
  // Mocked clock and timers (the cloud reads Date.now): the step timer is checked at its
  // exact edges in virtual time, not against real delays that a loaded machine stretches.
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
  await cloud.jobs.createJob({ jobId: "j-t", targets: ["s1"], document: { op: "t" } });
  const s = await dev.request(`${J}/start-next`, { stepTimeoutInMinutes: 2 }); // 2 x 100 ms in this test cloud
  assert.equal(s.json.execution.jobId, "j-t");
  // an IN_PROGRESS update with a new step timeout resets the timer
  t.mock.timers.tick(120);
  assert.equal(cloud.jobs.execution("j-t", "s1")?.status, "IN_PROGRESS");
  const u = await dev.request(`${J}/j-t/update`, { status: "IN_PROGRESS", stepTimeoutInMinutes: 3 });
  assert.equal(u.topic, `${J}/j-t/update/accepted`);
  t.mock.timers.tick(299);
  assert.equal(cloud.jobs.execution("j-t", "s1")?.status, "IN_PROGRESS", "the old 200 ms timer was replaced: 120 + 299 ms in, still running");
  t.mock.timers.tick(1);
  assert.equal(cloud.jobs.execution("j-t", "s1")?.status, "TIMED_OUT", "300 ms after the reset");
  t.mock.timers.reset();
  const late = await dev.request(`${J}/j-t/update`, { status: "SUCCEEDED" });
  assert.equal(late.json.code, "TerminalStateReached");
});

test("HTTP API: things, shadow, jobs with errors for bad input", async () => {
  const h = cloud.httpUrl;
  const post = (p: string, body: unknown) => fetch(h + p, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  assert.equal((await post("/things", { thingName: "h1", attributes: { model: "esp32" } })).status, 201);
  assert.equal((await post("/things", { thingName: "bad/name" })).status, 400);
  assert.equal((await post("/things", "{nope")).status, 400);
  const sh = await post("/things/h1/shadow", { state: { desired: { x: 1 } } });
  assert.equal(sh.status, 200);
  assert.equal((await post("/things/h1/shadow", { state: { desired: { x: 2 } }, version: 9 })).status, 409);
  assert.equal((await post("/jobs", { jobId: "hj", targets: ["ghost"], document: {} })).status, 404);
  assert.equal((await post("/jobs", { jobId: "hj", targets: ["h1"], document: "x" })).status, 400);
  assert.equal((await post("/jobs", { jobId: "hj", targets: ["h1"], document: { a: 1 } })).status, 201);
  const desc = (await (await fetch(`${h}/jobs/hj`)).json()) as any;
  assert.equal(desc.executions[0].status, "QUEUED");
  assert.equal((await fetch(`${h}/nowhere`)).status, 404);
});

test("restart keeps things, shadows, job executions and re-arms step timers", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.now() });
  const dir = tempDir();
  try {
    let c = await testCloud({ dir: dir.dir, minuteMs: 100 });
    c.registry.create("r1", { attributes: { site: "lab" } });
    await c.shadows.update("r1", "", { state: { desired: { led: 1 } } });
    await c.shadows.update("r1", "cfg", { state: { reported: { v: 2 } } });
    await c.jobs.createJob({ jobId: "rj", targets: ["r1"], document: { op: "x" } });
    await c.jobs.createJob({ jobId: "rj2", targets: ["r1"], document: { op: "y" }, stepTimeoutInMinutes: 2 });
    const d = await Device.connect(c.url, { clientId: "r1", protocolVersion: 4 });
    await d.client.subscribeAsync("$aws/things/r1/jobs/#", { qos: 1 });
    const st = await d.request("$aws/things/r1/jobs/rj2/update", { status: "IN_PROGRESS" });
    assert.equal(st.topic, "$aws/things/r1/jobs/rj2/update/accepted");
    await d.end();
    await c.close();

    c = await testCloud({ dir: dir.dir, minuteMs: 100 });
    try {
      assert.deepEqual(c.registry.get("r1")?.attributes, { site: "lab" });
      assert.equal(c.shadows.get("r1").version, 1);
      assert.deepEqual((c.shadows.get("r1", "cfg") as any).state.reported, { v: 2 });
      assert.equal(c.jobs.execution("rj", "r1")?.status, "QUEUED");
      assert.equal(c.jobs.execution("rj2", "r1")?.status, "IN_PROGRESS");
      t.mock.timers.tick(199);
      assert.equal(c.jobs.execution("rj2", "r1")?.status, "IN_PROGRESS");
      t.mock.timers.tick(1);
      assert.equal(c.jobs.execution("rj2", "r1")?.status, "TIMED_OUT", "timer re-armed after restart");
      t.mock.timers.reset();
      const d2 = await Device.connect(c.url, { clientId: "r1", protocolVersion: 5 });
      await d2.client.subscribeAsync("$aws/things/r1/#", { qos: 1 });
      const u = await d2.request("$aws/things/r1/shadow/update", { state: { reported: { led: 1 } }, version: 1 });
      assert.equal(u.json.version, 2);
      await d2.end();
    } finally {
      await c.close();
    }
  } finally {
    dir.cleanup();
  }
});
