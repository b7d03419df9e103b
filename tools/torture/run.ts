// One torture run: the reference firmware on a virtual ESP32 (tools/sim) against
// the local cloud running as a child process (tools/torture/cloud-child.ts), over
// mutual TLS, with a seeded schedule of faults of every kind. After the faults,
// the network stays healthy until the device's queue drains; then the invariants
// are checked against what the cloud stored (cloud.db) and what the device traced.
//
// Reproducible from the seed: the fault schedule, the scenario's noise and the
// firmware's inputs come from it, and the device's time is virtual. What is not:
// the sim's sockets are real (loopback TCP + TLS to a real process), so how many
// bytes arrive per read, when a cut lands inside an exchange, and the cloud's
// restart time vary from one replay to the next; a replay follows the same
// schedule but a failure that depends on such timing may need a few replays.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { buildApp, type BuiltApp } from "../sim/image.ts";
import { loadBoard } from "../sim/board.ts";
import { loadScenario } from "../sim/scenario.ts";
import { VirtualDevice, type TraceEvent } from "../sim/device.ts";
import { ensureCa, issueDeviceCert } from "../pki/index.ts";
import { Store } from "../cloud/store.ts";
import { telemetryService, type TelemetryView } from "../cloud/telemetry.ts";
import type { CloudContext } from "../cloud/service.ts";
import { CloudProcess } from "./cloud-process.ts";
import { Rng } from "./rng.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const ROOT = new URL("../../", import.meta.url).pathname;

export const FAULT_KINDS = [
  "outage", "long-outage", "latency", "split-writes", "drop-incoming", "drop-outgoing", "cut-in-uplink",
  "power-cut", "power-cut-in-uplink", "torn-kv-write", "cloud-restart", "cloud-sigkill",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The firmware's settings in a torture run: 5-minute sampling, hourly uplinks, a 48-reading flash queue (4 h). */
export const TORTURE_SLEEP = {
  sampleS: 300, uplinkS: 3600, batch: 24, perMessage: 6, maxPerUplink: 48, checkpointEvery: 4,
  radioBudgetMs: 8000, backoffS: 300, maxBackoffS: 3600,
};
export const TORTURE_QUEUE = { perChunk: 8, maxChunks: 6 };

export interface RunOptions {
  seed: number;
  days: number;
  /** Faults per virtual day (default 14). 0: a quiet run. */
  faultRate?: number;
  /** A client floods the device's topics all run long (the battery-drain attack). */
  flood?: boolean;
  /** The flooder's publishes per second (default 100: AWS IoT Core's per-connection quota). */
  floodRate?: number;
  /** Keep the run's directory (device flash, cloud.db) for inspection. */
  keep?: boolean;
  /**
   * Real ms the sim waits for an answer to what the device wrote before it lets virtual
   * time jump (default 400: loopback answers take milliseconds, and drop faults then cost
   * little). On a loaded host a late answer becomes a timed-out uplink, one more fault;
   * runs that compare energy or require every uplink to succeed use more.
   */
  replyWaitMs?: number;
}

export interface RunResult {
  seed: number;
  days: number;
  ok: boolean;
  failures: string[];
  /** Events around the first failure (or the last ones), for the report. */
  context: string[];
  faults: Record<string, number>;
  readings: number;
  issued: number;
  duplicates: number;
  lost: number;
  evicted: number;
  deliveredThenEvicted: number;
  ackedMissing: number;
  undeclared: number;
  panics: number;
  bricked: number;
  overBudget: number;
  maxRadioMs: number;
  /** Radio-on time of every wake that joined, ms (Wi-Fi join done to deep sleep). */
  radioMs: number[];
  wakes: number;
  uplinks: number;
  cloudErrors: number;
  unhandled: number;
  refused: number;
  /** Publishes the flooder sent (0 without flood). */
  floodSent: number;
  projectedYears: number;
  wallMs: number;
  dir?: string;
}

let firmware: BuiltApp | undefined;
function firmwareImage(): BuiltApp {
  return (firmware ??= buildApp(join(ROOT, "firmware")));
}

interface Fault {
  kind: FaultKind;
  at: number;
  ms: number;
  param: number;
}

/** The run's fault schedule: a function of the seed alone. */
export function faultSchedule(seed: number, days: number, rate: number): Fault[] {
  const rng = new Rng(seed * 7919 + 17);
  const end = days * DAY;
  const out: Fault[] = [];
  const n = Math.round(rate * days);
  for (let i = 0; i < n; i++) {
    const kind = FAULT_KINDS[i < FAULT_KINDS.length && n >= FAULT_KINDS.length ? i : rng.int(0, FAULT_KINDS.length - 1)];
    const at = rng.int(20 * MIN, Math.max(20 * MIN + 1, end - 2 * HOUR));
    let ms = 0;
    let param = 0;
    switch (kind) {
      case "outage": ms = rng.int(5 * MIN, 2 * HOUR); break;
      case "long-outage": ms = rng.int(5 * HOUR, 9 * HOUR); break; // the queue holds 4 h: forces eviction
      case "latency": ms = rng.int(10 * MIN, 3 * HOUR); param = rng.pick([20, 80, 250, 600]); break;
      case "split-writes": ms = rng.int(10 * MIN, 3 * HOUR); param = rng.pick([1, 2, 3, 7, 64]); break;
      case "drop-incoming": case "drop-outgoing": ms = rng.int(2 * MIN, 40 * MIN); break;
      case "cut-in-uplink": case "power-cut-in-uplink": param = rng.int(0, 5); ms = rng.int(1000, 20 * MIN); break; // point in the uplink; power off time
      case "power-cut": ms = rng.int(1000, 30 * MIN); break;
      case "torn-kv-write": param = rng.int(0, 4); break;
      case "cloud-restart": case "cloud-sigkill": break;
    }
    out.push({ kind, at, ms, param });
  }
  return out.sort((a, b) => a.at - b.at);
}

const UPLINK_POINTS = ["socket-connected", "publish#1", "publish#2", "publish#3", "publish#5", "socket-close"];
const KV_POINTS = ["kv.write:begin", "kv.write:torn", "kv.write:written", "kv.write:renamed", "kv.delete:begin"];

export async function runOne(o: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), `xsiot-torture-${o.seed}-`));
  const token = "torture-" + o.seed;
  const cloud = new CloudProcess(join(dir, "cloud"), token); // its HTTP API then requires the token
  const failures: string[] = [];
  const log: string[] = [];
  let failedAt = -1;
  const note = (line: string) => {
    log.push(line);
    if (log.length > 4000) log.splice(0, 1000);
  };
  const fail = (msg: string) => {
    failures.push(msg);
    if (failedAt < 0) failedAt = log.length;
    note(`!! ${msg}`);
  };
  const counts: Record<string, number> = {};
  const thing = `torture-${o.seed}`;
  const result: RunResult = {
    seed: o.seed, days: o.days, ok: false, failures, context: [], faults: counts, readings: 0, issued: 0, duplicates: 0, lost: 0, evicted: 0,
    deliveredThenEvicted: 0, ackedMissing: 0, undeclared: 0, panics: 0, bricked: 0, overBudget: 0, maxRadioMs: 0, radioMs: [], wakes: 0, uplinks: 0,
    cloudErrors: 0, unhandled: 0, refused: 0, floodSent: 0, projectedYears: 0, wallMs: 0,
  };
  // Cloud operations (restarts, kills, operator writes) run one after another, off the device's loop.
  let cloudOps: Promise<void> = Promise.resolve();
  const pending = new Set<Promise<unknown>>();
  const track = (fn: () => Promise<void>) => {
    const q = (cloudOps = cloudOps.then(fn).catch((e) => fail(`harness: ${(e as Error).message}`)));
    pending.add(q);
    void q.finally(() => pending.delete(q));
  };
  let device: VirtualDevice | undefined;
  let flood: { stop(): Promise<void>; sent: number } | undefined;
  try {
    const ports = await cloud.start();
    const pki = join(dir, "cloud", "pki");
    const ca = await ensureCa(pki);
    const cert = await issueDeviceCert(pki, thing);
    const http = `http://127.0.0.1:${ports.http}`;
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(http + path, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
      return text ? JSON.parse(text) : undefined;
    };

    // Operator writes the cloud acknowledged (HTTP 2xx): each must survive any later SIGKILL.
    const acknowledged: { shadows: [string, number][]; jobs: string[] } = { shadows: [], jobs: [] };
    let writes = 0;
    const ghost = `ghost-${o.seed}`; // a thing no device runs: the jobs stay QUEUED, the shadow untouched by the device
    await api("POST", "/things", { thingName: ghost });
    const operatorWrites = async () => {
      const n = ++writes;
      const doc = (await api("POST", `/things/${ghost}/shadow`, { state: { desired: { n } } })) as { version?: number };
      acknowledged.shadows.push([ghost, n]);
      void doc;
      await api("POST", "/jobs", { jobId: `j-${o.seed}-${n}`, targets: [ghost], document: { operation: "noop", n } });
      acknowledged.jobs.push(`j-${o.seed}-${n}`);
    };

    const scenario = loadScenario(join(ROOT, "firmware/scenarios/default.json"), o.seed);
    const schedule = faultSchedule(o.seed, o.days, o.faultRate ?? 14);
    const events: TraceEvent[] = [];
    let uplinkArm: { point: string; power: boolean; offMs: number; after: number; publishes: number } | undefined;
    let kvArm: { point: string; after: number } | undefined;
    const t0 = Date.UTC(2026, 0, 1);
    const vt = (t: number) => ((t - t0) / HOUR).toFixed(3) + "h";

    device = new VirtualDevice({
      name: thing,
      dir: join(dir, "device"),
      board: loadBoard("esp-wroom-32"),
      image: firmwareImage(),
      scenario,
      startTime: t0,
      quietMs: 50,
      replyWaitMs: o.replyWaitMs ?? 400,
      maxPanics: 5,
      deviceConfig: {
        cloud: { host: "127.0.0.1", port: ports.mqtt, tlsPort: ports.mqtts, caPem: ca.certPem },
        identity: { thingName: thing, certificate: cert.certPem, key: cert.keyPem },
        sleep: TORTURE_SLEEP,
        queue: TORTURE_QUEUE,
      },
      onTrace: (e) => {
        events.push(e);
        const d = device!;
        if (e.type === "log") {
          const text = String(e.text).trim();
          if (text.startsWith("{")) {
            try {
              const j = JSON.parse(text) as { ev?: string };
              if (j.ev === "uplink" || j.ev === "error" || j.ev === "boot") note(`${vt(e.t)} fw ${text}`);
            } catch {
              note(`${vt(e.t)} fw ${text}`);
            }
          } else note(`${vt(e.t)} log ${text}`);
        } else if (["boot", "power-cut", "power-off", "panic", "watchdog", "socket-error", "no-app", "rollback"].includes(e.type))
          note(`${vt(e.t)} sim ${e.type} ${JSON.stringify({ ...e, t: undefined, device: undefined, type: undefined })}`);
        // Cut or power loss at a chosen point of the next uplink after the fault's time.
        if (uplinkArm && d.now >= uplinkArm.after) {
          if (e.type === "wifi-join") uplinkArm.publishes = 0;
          if (e.type === "publish" && String(e.topic).includes("/telemetry")) uplinkArm.publishes++;
          const hit =
            (uplinkArm.point === "socket-connected" && e.type === "socket-connected") ||
            (uplinkArm.point === "socket-close" && e.type === "socket-close") ||
            (uplinkArm.point.startsWith("publish#") && e.type === "publish" && uplinkArm.publishes === Number(uplinkArm.point.slice(8)));
          if (hit) {
            const arm = uplinkArm;
            uplinkArm = undefined;
            note(`${vt(e.t)} FAULT ${arm.power ? "power cut" : "connection cut"} at ${arm.point}`);
            if (arm.power) d.powerCut(arm.offMs);
            else setImmediate(() => d.cutSockets());
          }
        }
      },
    });
    const d = device;
    d.storage.powerCutHook = (point) => {
      if (!kvArm || d.now < kvArm.after || point !== kvArm.point) return false;
      note(`${vt(t0 + d.now)} FAULT power cut inside a key-value write at ${point}`);
      kvArm = undefined;
      return true;
    };
    for (const f of schedule) {
      counts[f.kind] = (counts[f.kind] ?? 0) + 1;
      const at = f.at;
      const say = (what: string) => note(`${vt(t0 + d.now)} FAULT ${f.kind} ${what}`);
      switch (f.kind) {
        case "outage":
        case "long-outage":
          d.scenario.network.down.push([at, at + f.ms]);
          d.at(at, () => {
            say(`for ${(f.ms / MIN).toFixed(0)} min`);
            d.cutSockets();
          });
          break;
        case "latency":
        case "split-writes":
        case "drop-incoming":
        case "drop-outgoing": {
          const set = (on: boolean) => {
            if (f.kind === "latency") d.faults.latencyMs = on ? f.param : 0;
            if (f.kind === "split-writes") d.faults.splitWrites = on ? f.param : 0;
            if (f.kind === "drop-incoming") d.faults.dropIncoming = on;
            if (f.kind === "drop-outgoing") d.faults.dropOutgoing = on;
          };
          d.at(at, () => {
            say(`${f.param || ""} for ${(f.ms / MIN).toFixed(0)} min`);
            set(true);
          });
          d.at(at + f.ms, () => set(false));
          break;
        }
        case "cut-in-uplink":
        case "power-cut-in-uplink":
          d.at(at, () => {
            say(`armed at ${UPLINK_POINTS[f.param]}`);
            uplinkArm = { point: UPLINK_POINTS[f.param], power: f.kind === "power-cut-in-uplink", offMs: f.ms, after: at, publishes: 0 };
          });
          break;
        case "power-cut":
          d.at(at, () => {
            say(`off for ${(f.ms / 1000).toFixed(0)} s`);
            d.powerCut(f.ms);
          });
          break;
        case "torn-kv-write":
          d.at(at, () => {
            say(`armed at ${KV_POINTS[f.param]}`);
            kvArm = { point: KV_POINTS[f.param], after: at };
          });
          break;
        case "cloud-restart":
        case "cloud-sigkill":
          d.at(at, () => {
            say("");
            track(async () => {
              if (f.kind === "cloud-sigkill") await operatorWrites();
              await cloud.restart(f.kind === "cloud-sigkill");
            });
          });
          break;
      }
    }
    note(`seed ${o.seed}: ${schedule.length} faults over ${o.days} virtual day(s)`);
    if (o.flood) flood = startFlood(ports, pki, thing, api, o.floodRate ?? 100);

    // Faults, then healthy until drained.
    const end = o.days * DAY;
    await d.run(end);
    uplinkArm = undefined;
    kvArm = undefined;
    d.scenario.network.down = [];
    Object.assign(d.faults, { latencyMs: 0, splitWrites: 0, dropIncoming: false, dropOutgoing: false });
    await Promise.all([...pending]);
    if (!cloud.up) await cloud.start();
    note(`${vt(t0 + d.now)} faults over (${((performance.now() - started) / 1000).toFixed(1)} s); network healthy until the queue drains`);
    const drainLimit = end + DAY;
    let drained = false;
    while (d.now < drainLimit && !d.summary.stoppedBecause) {
      await d.run(Math.min(drainLimit, d.now + HOUR));
      const last = lastUplink(events, end);
      if (last && last.ok && last.queued === 0) {
        drained = true;
        break;
      }
    }
    await flood?.stop();
    if (flood) result.floodSent = flood.sent;
    d.shutdown();
    await Promise.all([...pending]);
    await writesSurvive(); // one more SIGKILL after the run: everything acknowledged must be there
    async function writesSurvive() {
      await operatorWrites();
      await cloud.kill();
      await cloud.start();
    }
    await cloud.stop();

    // ---- invariants
    result.panics = d.summary.panics;
    result.wakes = d.summary.boots;
    result.projectedYears = d.energy.report(d.now).projectedYears;
    if (d.summary.panics) fail(`${d.summary.panics} panic(s)`);
    if (events.some((e) => e.type === "watchdog")) fail("task watchdog reset");
    if (d.summary.stoppedBecause || !drained) {
      result.bricked = 1;
      fail(`device did not recover: ${d.summary.stoppedBecause ?? "no successful uplink that drained the queue within a day of healthy network"}`);
    }
    const fw = firmwareLog(events);
    result.uplinks = fw.uplinks.filter((u) => u.ok).length;
    // Radio budget: virtual time from the Wi-Fi join to deep sleep, per wake.
    const budget = TORTURE_SLEEP.radioBudgetMs;
    let joinAt = -1;
    for (const e of events) {
      if (e.type === "boot") joinAt = -1;
      if (e.type === "wifi-join" && joinAt < 0) joinAt = e.t;
      if (e.type === "sleep" && joinAt >= 0) {
        const radio = e.t - joinAt; // the join is traced once done
        result.maxRadioMs = Math.max(result.maxRadioMs, radio);
        result.radioMs.push(radio);
        // The budget runs from connect to the last acknowledgement; closing, the snapshot write and sleep follow.
        if (radio > budget + 1500) {
          result.overBudget++;
          fail(`a wake kept the radio on ${radio} ms (budget ${budget} ms) ending at ${vt(e.t)}`);
        }
        joinAt = -1;
      }
    }

    const store = new Store(join(dir, "cloud", "cloud.db"));
    try {
      const ctx = { store, log: { info() {}, warn() {}, error() {} }, bus: { kind: "external" } } as unknown as CloudContext;
      const tel = telemetryService(ctx);
      const view: TelemetryView = tel.view(thing);
      const inCloud = new Set((store.db.prepare("SELECT seq FROM telemetry WHERE thing = ?").all(thing) as { seq: number }[]).map((r) => r.seq));
      result.refused = tel.refused().reduce((a, r) => a + r.count, 0);
      result.readings = inCloud.size;
      result.duplicates = view.duplicates;
      if (view.conflicts) fail(`${view.conflicts} sequence number(s) reused with different content`);
      if (view.garbled) fail(`${view.garbled} garbled telemetry payload(s) reached the cloud`);
      // Declared numbers: the ranges the scheduler traced.
      const declared = new Set<number>();
      let lostN = 0;
      let evictedN = 0;
      for (const r of fw.lost) {
        lostN += r.n;
        for (let s = r.from; s <= r.to; s++) declared.add(s);
        for (let s = r.from; s <= r.to; s++) if (inCloud.has(s)) fail(`seq ${s} declared lost (never on flash) is in the cloud`);
      }
      for (const r of fw.evicted) {
        evictedN += r.n;
        for (let s = r.from; s <= r.to; s++) declared.add(s);
      }
      result.lost = lostN;
      result.evicted = evictedN;
      if (view.declared.lost !== lostN && fw.uplinks.length) fail(`cloud's lost counter ${view.declared.lost} != ${lostN} traced`);
      if (view.declared.evicted !== evictedN) fail(`cloud's evicted counter ${view.declared.evicted} != ${evictedN} traced`);
      if (view.declared.corrupted) fail(`${view.declared.corrupted} readings reported corrupted (no flash damage was injected)`);
      const through = Math.max(0, ...fw.uplinks.map((u) => u.through));
      result.issued = through;
      for (let s = 1; s <= through; s++) {
        if (inCloud.has(s)) {
          if (declared.has(s) && fw.evicted.some((r) => s >= r.from && s <= r.to)) result.deliveredThenEvicted++;
          continue;
        }
        if (!declared.has(s)) {
          result.ackedMissing++;
          if (result.ackedMissing <= 5) fail(`seq ${s} (at or below the acknowledged ${through}) is missing in the cloud and was never declared`);
        }
      }
      result.undeclared = view.undeclared;
      if (view.undeclared) fail(`the cloud's view finds ${view.undeclared} undeclared missing number(s): ${JSON.stringify(view.gaps.filter((g) => !g.declared).slice(0, 5))}`);
      // Exact: every number the cloud lacks is declared, and every declared number the cloud has was delivered before its eviction.
      const declaredTotal = lostN + evictedN;
      if (view.missing + result.deliveredThenEvicted !== declaredTotal)
        fail(`missing ${view.missing} + delivered-then-evicted ${result.deliveredThenEvicted} != declared ${declaredTotal}`);
      // Operator writes acknowledged before each SIGKILL survive.
      for (const [ghost, n] of acknowledged.shadows) {
        const doc = store.getShadow<{ state?: { desired?: { n?: number } } }>(ghost, "");
        if (!doc || (doc.state?.desired?.n ?? 0) < n) fail(`shadow write ${n} of ${ghost} acknowledged before a SIGKILL is gone`);
      }
      for (const id of acknowledged.jobs) if (!store.getJob(id)) fail(`job ${id} acknowledged before a SIGKILL is gone`);
    } finally {
      store.close();
    }
    result.cloudErrors = cloud.errors.length;
    result.unhandled = cloud.unhandled.length;
    for (const e of cloud.errors.slice(0, 3)) fail(`cloud error: ${e}`);
    for (const e of cloud.unhandled.slice(0, 3)) fail(`cloud: ${e}`);
  } catch (e) {
    fail(`harness: ${(e as Error).stack ?? e}`);
  } finally {
    device?.shutdown();
    await flood?.stop().catch(() => undefined);
    await cloud.kill().catch(() => undefined);
    if (!o.keep && failures.length === 0) rmSync(dir, { recursive: true, force: true });
    else result.dir = dir;
  }
  result.ok = failures.length === 0;
  const at = failedAt < 0 ? log.length : failedAt;
  result.context = log.slice(Math.max(0, at - 25), at + 5);
  result.wallMs = performance.now() - started;
  return result;
}

/** The last uplink after `after` (virtual ms since start), with the queue left by the wake that made it. */
function lastUplink(events: TraceEvent[], after: number): { ok: boolean; queued: number } | undefined {
  let last: { ok: boolean; queued: number } | undefined;
  let ok: boolean | undefined;
  for (const e of events) {
    if (e.type === "boot") ok = undefined;
    if (e.type !== "log" || e.t - Date.UTC(2026, 0, 1) < after) continue;
    const text = String(e.text).trim();
    if (!text.startsWith("{")) continue;
    try {
      const j = JSON.parse(text) as { ev?: string; ok?: boolean; queued?: number };
      if (j.ev === "uplink") ok = !!j.ok;
      if (j.ev === "sleep" && ok !== undefined) {
        last = { ok, queued: j.queued ?? -1 };
        ok = undefined;
      }
    } catch {
      // not a firmware line
    }
  }
  return last;
}

function firmwareLog(events: TraceEvent[]) {
  const uplinks: { ok: boolean; through: number }[] = [];
  const lost: { n: number; from: number; to: number }[] = [];
  const evicted: { n: number; from: number; to: number }[] = [];
  for (const e of events) {
    if (e.type !== "log") continue;
    const text = String(e.text).trim();
    let m = /^sleep: lost (\d+) readings at a power loss \(seq (\d+)-(\d+)\)/.exec(text);
    if (m) lost.push({ n: Number(m[1]), from: Number(m[2]), to: Number(m[3]) });
    m = /^sleep: queue full, evicted (\d+) oldest readings \(seq (\d+)-(\d+)\)/.exec(text);
    if (m) evicted.push({ n: Number(m[1]), from: Number(m[2]), to: Number(m[3]) });
    if (text.startsWith("{")) {
      try {
        const j = JSON.parse(text) as { ev?: string; ok?: boolean; through?: number };
        if (j.ev === "uplink") uplinks.push({ ok: !!j.ok, through: Number(j.through) || 0 });
      } catch {
        // not a firmware line
      }
    }
  }
  return { uplinks, lost, evicted };
}

/**
 * The battery-drain attack: another thing (its own certificate) publishes as fast
 * as the broker takes them on the victim's shadow delta and jobs notify topics
 * (the policy refuses them) and on a topic of nobody, while the operator API
 * pushes desired-state changes that the cloud turns into real deltas for the
 * device, several per second.
 */
function startFlood(ports: { mqtts: number }, pki: string, victim: string, api: (m: string, p: string, b?: unknown) => Promise<unknown>, rate: number) {
  let stopped = false;
  const state = { sent: 0, stop: async () => {} };
  const run = (async () => {
    const ca = await ensureCa(pki);
    const cert = await issueDeviceCert(pki, `${victim}-attacker`);
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${ports.mqtts}`, {
      clientId: `${victim}-attacker`, ca: ca.certPem, cert: cert.certPem, key: cert.keyPem, rejectUnauthorized: false,
      protocolVersion: 5, reconnectPeriod: 200, clean: true,
    });
    client.on("error", () => undefined);
    const topics = [`$aws/things/${victim}/shadow/update/delta`, `$aws/things/${victim}/jobs/notify`, `$aws/things/${victim}/jobs/notify-next`, `nobody/${victim}/x`];
    let n = 0;
    const payload = JSON.stringify({ state: { flood: "x".repeat(200) }, version: 1 });
    // AWS IoT Core takes at most 100 publishes per second per connection (its published quota);
    // the local broker enforces no such limit, so the rate is the flooder's (rate / 10 every 100 ms).
    const burst = Math.max(1, Math.round(rate / 10));
    const pump = async () => {
      while (!stopped) {
        if (client.connected) {
          for (let i = 0; i < burst && !stopped; i++) client.publish(topics[n++ % topics.length], payload, { qos: 0 });
          state.sent += burst;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const desired = async () => {
      let k = 0;
      while (!stopped) {
        await api("POST", `/things/${victim}/shadow`, { state: { desired: { flood: ++k } } }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await Promise.all([pump(), desired()]);
    await client.endAsync(true);
  })();
  state.stop = async () => {
    stopped = true;
    await run.catch(() => undefined);
  };
  return state;
}

export function formatRun(r: RunResult): string {
  const faults = Object.values(r.faults).reduce((a, b) => a + b, 0);
  return (
    `seed ${r.seed} ${r.days}d: ${r.ok ? "ok  " : "FAIL"} faults ${faults}, wakes ${r.wakes}, uplinks ${r.uplinks}, readings ${r.readings}/${r.issued}, ` +
    `dup ${r.duplicates}, lost ${r.lost}, evicted ${r.evicted} (${r.deliveredThenEvicted} delivered first), acked-missing ${r.ackedMissing}, ` +
    `undeclared ${r.undeclared}, panics ${r.panics}, bricked ${r.bricked}, over-budget ${r.overBudget} (max radio ${Math.round(r.maxRadioMs)} ms), ` +
    `cloud errors ${r.cloudErrors}, unhandled ${r.unhandled}, ${(r.wallMs / 1000).toFixed(1)} s`
  );
}
