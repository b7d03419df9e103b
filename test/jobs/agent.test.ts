// JobsAgent state machine in Node over a fake MqttConnection, a fake jobs service,
// manual timers and an in-memory key-value store.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { register } from "node:module";
import { FakeConn, FakeTimers, settle } from "./shims/fake.ts";
import { MemoryKv } from "./shims/kv.ts";

let JobsAgent: typeof import("../../sdk/jobs/agent.ts").JobsAgent;
before(async () => {
  (globalThis as any).trace = () => {};
  register(new URL("./shims/hooks.mjs", import.meta.url));
  ({ JobsAgent } = await import("../../sdk/jobs/agent.ts"));
});

const P = "$aws/things/t1/jobs";
const TERMINAL = ["SUCCEEDED", "FAILED", "REJECTED", "REMOVED", "CANCELED", "TIMED_OUT"];

interface Ex {
  jobId: string;
  doc: unknown;
  status: string;
  versionNumber: number;
  statusDetails?: Record<string, string>;
}

/** A fake of the cloud's jobs service: start-next, J/get, J/update with expectedVersion. */
class FakeJobs {
  executions: Ex[] = [];
  updates: any[] = [];
  /** Called before an update is handled (tests bump versions or cancel here). */
  beforeUpdate?: (ex: Ex, req: any) => void;
  constructor(private conn: FakeConn) {
    conn.responder = (topic, req) => this.handle(topic, req);
  }
  add(jobId: string, doc: unknown): Ex {
    const ex = { jobId, doc, status: "QUEUED", versionNumber: 1 };
    this.executions.push(ex);
    return ex;
  }
  get(jobId: string): Ex {
    return this.executions.find((e) => e.jobId === jobId)!;
  }
  private next(): Ex | undefined {
    return this.executions.find((e) => e.status === "IN_PROGRESS") ?? this.executions.find((e) => e.status === "QUEUED");
  }
  private full(e: Ex) {
    return { jobId: e.jobId, jobDocument: e.doc, status: e.status, versionNumber: e.versionNumber, executionNumber: 1, statusDetails: e.statusDetails };
  }
  private handle(topic: string, req: any): void {
    const rest = topic.slice(P.length + 1).split("/");
    const reply = (ok: boolean, body: object) => this.conn.deliver(`${topic}/${ok ? "accepted" : "rejected"}`, { ...body, clientToken: req.clientToken });
    if (rest[0] === "start-next") {
      const n = this.next();
      if (n && n.status === "QUEUED") {
        n.status = "IN_PROGRESS";
        n.versionNumber++;
      }
      return reply(true, n ? { execution: this.full(n) } : {});
    }
    const ex = this.get(rest[0]);
    if (rest[1] === "get") return ex ? reply(true, { execution: this.full(ex) }) : reply(false, { code: "ResourceNotFound" });
    if (rest[1] === "update") {
      this.updates.push({ jobId: rest[0], ...req });
      this.beforeUpdate?.(ex, req);
      const state = { status: ex.status, versionNumber: ex.versionNumber };
      if (req.expectedVersion !== undefined && req.expectedVersion !== ex.versionNumber) return reply(false, { code: "VersionMismatch", message: "mismatch", executionState: state });
      if (TERMINAL.includes(ex.status)) return reply(false, { code: "TerminalStateReached", message: "ended", executionState: state });
      ex.status = req.status;
      ex.versionNumber++;
      if (req.statusDetails) ex.statusDetails = req.statusDetails;
      return reply(true, { executionState: { status: ex.status, versionNumber: ex.versionNumber, statusDetails: ex.statusDetails } });
    }
  }
}

function setup(opts: Record<string, unknown> = {}, kv = new MemoryKv()) {
  const conn = new FakeConn();
  const timers = new FakeTimers();
  const logs: string[] = [];
  const cloud = new FakeJobs(conn);
  const agent = new JobsAgent(conn, { thingName: "t1", timers, now: () => timers.now, storage: kv as any, log: (l) => logs.push(l), timeoutMs: 1000, progressIntervalMs: 500, ...opts });
  return { conn, timers, logs, cloud, agent, kv };
}

test("start: subscribes (SUBACK first), then start-next; no job -> idle", async () => {
  const { conn, agent, logs } = setup();
  await agent.start();
  assert.deepEqual(conn.subscribed, [`${P}/notify-next`, `${P}/start-next/accepted`, `${P}/start-next/rejected`, `${P}/+/get/accepted`, `${P}/+/get/rejected`, `${P}/+/update/accepted`, `${P}/+/update/rejected`]);
  assert.equal(conn.published[0].topic, `${P}/start-next`);
  await agent.idle(100);
  assert.ok(logs.includes("jobs: no pending job"));
});

test("a refused subscription rejects start() with a clear JobsError and publishes nothing", async () => {
  const { conn, agent } = setup();
  conn.grant = (filter) => ({ filter, reasonCode: 0x80 });
  await assert.rejects(agent.start(), (e: any) => e.code === "subscribe" && /not authorized: the broker refused the subscription to \$aws\/things\/t1\/jobs\/notify-next \(reason 0x80\)/.test(e.message));
  assert.equal(conn.published.length, 0);
});

test("happy path: handler by operation, progress and succeed carry expectedVersion; storage cleared; next job started", async () => {
  const { agent, cloud, kv } = setup();
  cloud.add("j1", { operation: "set-config", value: 5 });
  cloud.add("j2", { operation: "set-config", value: 6 });
  const seen: unknown[] = [];
  agent.on("set-config", async (job) => {
    seen.push(job.execution.document.value);
    job.save({ half: true });
    await job.progress({ step: "1" });
    await job.succeed({ done: "yes" });
  });
  await agent.start();
  await agent.idle(100);
  assert.deepEqual(seen, [5, 6]);
  const u = cloud.updates.filter((x) => x.jobId === "j1");
  assert.deepEqual(u.map((x) => [x.status, x.expectedVersion]), [["IN_PROGRESS", 2], ["SUCCEEDED", 3]]);
  assert.deepEqual(cloud.get("j1").statusDetails, { step: "1", done: "yes" });
  assert.equal(cloud.get("j1").status, "SUCCEEDED");
  assert.equal(cloud.get("j2").status, "SUCCEEDED");
  assert.equal(kv.data.size, 0, "nothing left in storage");
});

test("AWS OTA documents ({afr_ota: ...}) have the operation afr_ota", async () => {
  const { agent, cloud } = setup();
  cloud.add("ota1", { afr_ota: { protocols: ["MQTT"], streamname: "s", files: [] } });
  let ran = false;
  agent.on("afr_ota", (job) => ((ran = true), job.succeed()));
  await agent.start();
  await agent.idle(100);
  assert.ok(ran);
  assert.equal(cloud.get("ota1").status, "SUCCEEDED");
});

test("malformed documents -> FAILED with a reason; unknown operation -> REJECTED; a throwing handler -> FAILED", async () => {
  const { agent, cloud } = setup();
  cloud.add("a", "not an object");
  cloud.add("b", [1, 2]);
  cloud.add("c", { operation: 42 });
  cloud.add("d", { something: "else" });
  cloud.add("e", { operation: "" });
  cloud.add("f", { operation: "self-destruct" });
  cloud.add("g", { operation: "boom" });
  agent.on("boom", () => {
    throw new Error("sensor missing");
  });
  await agent.start();
  await agent.idle(100);
  const r = (id: string) => [cloud.get(id).status, cloud.get(id).statusDetails?.reason];
  assert.deepEqual(r("a"), ["FAILED", "malformed job document: not a JSON object"]);
  assert.deepEqual(r("b"), ["FAILED", "malformed job document: not a JSON object"]);
  assert.deepEqual(r("c"), ["FAILED", "malformed job document: operation is not a string"]);
  assert.deepEqual(r("d"), ["FAILED", "malformed job document: no operation"]);
  assert.deepEqual(r("e"), ["FAILED", "malformed job document: operation must be 1-64 characters"]);
  assert.deepEqual(r("f"), ["REJECTED", 'unsupported operation "self-destruct"']);
  assert.deepEqual(r("g"), ["FAILED", "handler failed: sensor missing"]);
});

test("progress is rate-bounded: calls within the interval merge into one update", async () => {
  const { agent, cloud, timers } = setup({ progressIntervalMs: 500 });
  cloud.add("j", { operation: "x" });
  let finish!: () => void;
  agent.on("x", async (job) => {
    await job.progress({ p: "1" });
    const all = [job.progress({ p: "2" }), job.progress({ p: "3", q: "a" }), job.progress({ p: "4" })];
    await Promise.all(all);
    await new Promise<void>((r) => (finish = r));
    await job.succeed();
  });
  await agent.start();
  await settle(20);
  assert.equal(cloud.updates.length, 1, "second batch waits for the interval");
  await timers.advance(499);
  assert.equal(cloud.updates.length, 1);
  await timers.advance(1);
  assert.equal(cloud.updates.length, 2);
  assert.deepEqual(cloud.updates[1].statusDetails, { p: "4", q: "a" });
  finish();
  await agent.idle(100);
  assert.equal(cloud.get("j").status, "SUCCEEDED");
});

test("VersionMismatch: re-reads the execution (J/get) and retries once; a second mismatch fails the call", async () => {
  const { agent, cloud, conn } = setup({ progressIntervalMs: 0 });
  const ex = cloud.add("j", { operation: "x" });
  let bumps = 1;
  cloud.beforeUpdate = (e) => {
    if (bumps-- > 0) e.versionNumber += 5; // someone else updated the execution
  };
  let err: unknown;
  agent.on("x", async (job) => {
    await job.progress({ a: "1" });
    bumps = 2; // now it keeps changing under us
    try {
      await job.progress({ a: "2" });
    } catch (e) {
      err = e;
    }
    bumps = 0;
    await job.succeed();
  });
  await agent.start();
  await agent.idle(100);
  const attempts = cloud.updates.map((u) => u.expectedVersion);
  // 2: mismatch (now 7) -> get -> 7 ok; 8: mismatch (13) -> get -> 13: mismatch again (18) -> the call fails;
  // succeed: 13 mismatch -> get -> 18 ok.
  assert.deepEqual(attempts, [2, 7, 8, 13, 13, 18], attempts.join());
  assert.ok(conn.published.filter((p) => p.topic === `${P}/j/get`).length >= 2);
  assert.match(String((err as Error)?.message), /VersionMismatch/);
  assert.equal(ex.status, "SUCCEEDED");
});

test("cancellation: TerminalStateReached on update, or notify-next naming another job, sets canceled", async () => {
  const { agent, cloud, conn } = setup();
  const j1 = cloud.add("j1", { operation: "x" });
  cloud.add("j2", { operation: "y" });
  const ctxs: any[] = [];
  let release!: () => void;
  agent.on("x", async (job) => {
    ctxs.push(job);
    j1.status = "CANCELED"; // operator canceled it (force)
    await job.progress({ a: "1" }).catch(() => {});
  });
  agent.on("y", async (job) => {
    ctxs.push(job);
    await new Promise<void>((r) => (release = r));
    await job.succeed().catch(() => {});
  });
  await agent.start();
  await settle(30);
  assert.equal(ctxs[0].canceled, true);
  assert.equal(ctxs[0].cancelReason, "CANCELED");
  // j2 runs; the service now says the next job is another one: j2 was removed.
  assert.equal(ctxs.length, 2);
  cloud.get("j2").status = "REMOVED";
  conn.deliver(`${P}/notify-next`, { timestamp: 1 });
  assert.equal(ctxs[1].canceled, true);
  assert.match(ctxs[1].cancelReason, /no longer pending/);
  release();
  await agent.idle(100);
  await assert.rejects(ctxs[1].succeed(), /canceled/);
});

test("persistence: a handler that returns without ending pauses; a new agent (after sleep/reboot) resumes with load()", async () => {
  const kv = new MemoryKv();
  const first = setup({}, kv);
  first.cloud.add("j", { operation: "steps" });
  const loads: unknown[] = [];
  const handler = async (job: any) => {
    const s = job.load();
    loads.push(s);
    const n = (s?.n ?? 0) + 1;
    job.save({ n });
    if (n === 2) await job.succeed({ n: String(n) });
  };
  first.agent.on("steps", handler);
  await first.agent.start();
  await first.agent.idle(100);
  assert.ok(first.logs.some((l) => /paused IN_PROGRESS/.test(l)));
  assert.equal(first.cloud.get("j").status, "IN_PROGRESS");
  assert.ok(kv.data.has("exec") && kv.data.has("state"));
  first.agent.close();
  // "Reboot": a fresh agent over the same storage and service.
  const conn = new FakeConn();
  const cloud2 = new FakeJobs(conn);
  cloud2.executions = first.cloud.executions;
  const timers = new FakeTimers();
  const agent2 = new JobsAgent(conn, { thingName: "t1", timers, storage: kv as any, log: () => {}, timeoutMs: 1000 });
  agent2.on("steps", handler);
  await agent2.start();
  await agent2.idle(100);
  assert.deepEqual(loads, [undefined, { n: 1 }]);
  assert.equal(first.cloud.get("j").status, "SUCCEEDED");
  assert.equal(kv.data.size, 0);
});

test("saved state of a job that is no longer pending is dropped, not handed to another job", async () => {
  const kv = new MemoryKv();
  kv.write("exec", JSON.stringify({ jobId: "old" }));
  kv.write("state", JSON.stringify({ j: "old", s: { n: 3 } }));
  const { agent, cloud, logs } = setup({}, kv);
  cloud.add("new", { operation: "x" });
  let loaded: unknown = "unset";
  agent.on("x", (job) => {
    loaded = job.load();
    return job.succeed();
  });
  await agent.start();
  await agent.idle(100);
  assert.equal(loaded, undefined);
  assert.ok(logs.some((l) => /saved job old is not the next one/.test(l)));
  const kv2 = new MemoryKv();
  kv2.write("exec", JSON.stringify({ jobId: "gone" }));
  const s2 = setup({}, kv2);
  await s2.agent.start();
  await s2.agent.idle(100);
  assert.ok(s2.logs.some((l) => /saved job gone is no longer pending/.test(l)));
  assert.equal(kv2.data.size, 0);
});

test("step timeout: sent with start-next and progress; a handler still running when it passes sees canceled", async () => {
  const { agent, cloud, conn, timers } = setup({ stepTimeoutInMinutes: 2, minuteMs: 1000 });
  cloud.add("j", { operation: "slow" });
  let ctx: any;
  agent.on("slow", async (job) => {
    ctx = job;
    await job.progress({ a: "1" });
    await new Promise<void>((r) => timers.setTimeout(r, 10_000));
  });
  await agent.start();
  await settle(20);
  assert.equal(conn.published[0].json.stepTimeoutInMinutes, 2);
  assert.equal(cloud.updates[0].stepTimeoutInMinutes, 2);
  await timers.advance(1999);
  assert.equal(ctx.canceled, false);
  await timers.advance(1);
  assert.equal(ctx.canceled, true);
  assert.match(ctx.cancelReason, /step timeout of 2 min passed/);
  cloud.get("j").status = "TIMED_OUT"; // as the service does at the same deadline
  await timers.advance(10_000);
  await agent.idle(100);
});

test("requests without an answer time out; the agent goes idle instead of hanging", async () => {
  const { agent, conn, timers, logs } = setup();
  conn.responder = undefined;
  await agent.start();
  const idle = agent.idle(5000);
  await timers.advance(1000);
  await idle;
  assert.ok(logs.some((l) => /start-next failed: .*no answer on start-next within 1000 ms/.test(l)));
});

test("hostile input on every topic is ignored with a reason, never a throw", async () => {
  const { agent, conn, logs, cloud } = setup({ maxDocumentBytes: 2048 });
  cloud.add("j", { operation: "x" });
  agent.on("x", (job) => job.succeed());
  const bad: (string | object | Uint8Array)[] = [
    "{oops", "[]", "", "null", { execution: "x" }, { execution: { jobId: "../../x" } }, { execution: { jobId: 5 } },
    "x".repeat(3000), "[".repeat(1000), new Uint8Array([0xc3, 0x28, 0xff]), { clientToken: 42 }, { clientToken: "nobody" },
  ];
  for (const b of bad) for (const t of ["notify-next", "start-next/accepted", "start-next/rejected", "j/get/accepted", "j/update/rejected", "zz/update/accepted"]) conn.deliver(`${P}/${t}`, b);
  const text = logs.join("\n");
  for (const reason of ["invalid JSON", "not a JSON object", "exceeds 2048", "nests deeper than 16", "invalid jobId"]) assert.ok(text.includes(reason), reason);
  await agent.start();
  await agent.idle(100);
  assert.equal(cloud.get("j").status, "SUCCEEDED", "still works");
});

test("options are validated: namespace <= 15 characters, step timeout 1..10080", () => {
  const conn = new FakeConn();
  assert.throws(() => new JobsAgent(conn, { thingName: "t1", namespace: "a-namespace-too-long" }), RangeError);
  assert.throws(() => new JobsAgent(conn, { thingName: "t1", stepTimeoutInMinutes: 0 }), RangeError);
  assert.throws(() => new JobsAgent(conn, { thingName: "t/1" }), RangeError);
});
