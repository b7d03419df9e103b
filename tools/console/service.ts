// The web console's cloud side: a cloud service ("console") that watches the bus
// for what operators want to see (telemetry, presence, shadow documents, job
// executions), keeps a bounded recent history per thing in memory, pushes changes
// to browsers over Server-Sent Events, and answers /console/* JSON routes. The
// static page itself (tools/console/web) is bundled on first request (assets.ts).
// A process that runs virtual devices (the demo) attaches them with setHooks() so
// the console also shows their energy and projected battery life.
import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import { decode as decodeCbor } from "cbor-x";
import type { CloudContext, CloudService, HttpRequest, HttpResult } from "../cloud/service.ts";
import { ApiError } from "../cloud/service.ts";
import type { JobsService, Execution, Job } from "../cloud/jobs.ts";
import type { ShadowService } from "../cloud/shadow.ts";
import type { Alarm, DefenderService } from "../cloud/defender.ts";
import type { EnergyReport } from "../sim/energy.ts";
import type { StreamsService } from "../cloud/streams.ts";
import { KEY_FILES } from "../ota/signing.ts";
import { REPO_ROOT } from "../sim/image.ts";
import { consoleAssets } from "./assets.ts";
import { localOtaPublisher } from "./ota.ts";

/** Readings kept per thing (a 15-minute node fills this in ~40 virtual days). */
export const HISTORY = 4000;
/** Projected-life samples kept per virtual device. */
const LIFE_HISTORY = 600;

export interface VirtualNode {
  device: string;
  thing?: string;
  state: string;
  version?: string;
  /** Virtual epoch ms of the device's clock and of its next wake. */
  now: number;
  nextWake?: number;
  energy?: EnergyReport;
  /** The device's latest sample (virtual epoch ms), before it is uplinked, and how many it has taken. */
  sampled?: { t: number; value: number | null; batteryMv?: number; count: number };
}

export interface OtaPublisher {
  /** Builds (or takes) the image at `version`, signs it, creates the stream and the afr_ota job. */
  publish(things: string[], version: string): Promise<{ jobId: string; streamId: string; size: number }>;
}

export interface ConsoleHooks {
  /** The virtual devices of this process (the demo), polled once a second. */
  virtualFleet?: () => VirtualNode[];
  ota?: OtaPublisher;
}

interface ThingLive {
  connected?: boolean;
  /** Real ms of the last message from the thing. */
  lastSeen?: number;
  /** [t (epoch ms, the device's clock), value, battery mV] oldest first. */
  readings: [number, number | null, number][];
  counters?: Record<string, number>;
}

const THING = /^[a-zA-Z0-9:_-]{1,128}$/;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export class ConsoleService implements CloudService {
  readonly name = "console";
  private unsubs: (() => Promise<void>)[] = [];
  private live = new Map<string, ThingLive>();
  private clients = new Set<ServerResponse>();
  private hooks: ConsoleHooks = {};
  private tick?: NodeJS.Timeout;
  private life = new Map<string, [number, number][]>();
  /** Serve the page (the JSON routes and events stay either way). */
  web = true;

  constructor(private ctx: CloudContext) {}

  setHooks(h: ConsoleHooks): void {
    this.hooks = { ...this.hooks, ...h };
  }

  private entry(thing: string): ThingLive {
    let e = this.live.get(thing);
    if (!e) this.live.set(thing, (e = { readings: [] }));
    return e;
  }

  private seen(thing: string): void {
    if (!THING.test(thing)) return;
    const e = this.entry(thing);
    e.lastSeen = this.ctx.now();
  }

  /** Sends an event to every open console. */
  emit(kind: string, data: object): void {
    const text = `event: ${kind}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.clients) res.write(text);
  }

  private onTelemetry(topic: string, payload: Buffer): void {
    const [, thing, , fmt] = topic.split("/");
    if (!thing || !THING.test(thing)) return;
    let msg: unknown;
    try {
      msg = fmt === "cbor" ? decodeCbor(payload) : JSON.parse(payload.toString());
    } catch {
      return;
    }
    if (!isObj(msg) || !Array.isArray(msg.r)) return;
    const e = this.entry(thing);
    e.lastSeen = this.ctx.now();
    const fields = Array.isArray(msg.fields) ? msg.fields.map(String) : ["seq", "t", "v", "mV", "flags"];
    const [it, iv, ib] = ["t", "v", "mV"].map((f) => fields.indexOf(f));
    if (it < 0) return;
    let added = 0;
    for (const row of msg.r.slice(-HISTORY)) {
      if (!Array.isArray(row)) continue;
      const t = Number(row[it]) * 1000;
      if (!Number.isFinite(t)) continue;
      const v = iv >= 0 && typeof row[iv] === "number" && Number.isFinite(row[iv]) ? (row[iv] as number) : null;
      const mv = ib >= 0 ? Number(row[ib]) || 0 : 0;
      // One reading per instant: a resent message (QoS 1) replaces, not duplicates.
      const at = e.readings.findIndex((r) => r[0] === t);
      if (at >= 0) e.readings[at] = [t, v, mv];
      else e.readings.push([t, v, mv]);
      added++;
    }
    e.readings.sort((a, b) => a[0] - b[0]);
    if (e.readings.length > HISTORY) e.readings.splice(0, e.readings.length - HISTORY);
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(msg)) if (typeof v === "number") counters[k] = v;
    e.counters = counters;
    if (added) this.emit("change", { kind: "telemetry", thing, readings: e.readings.slice(-added) });
  }

  async start(): Promise<void> {
    const sub = async (f: string, h: (topic: string, payload: Buffer) => void) => this.unsubs.push(await this.ctx.bus.subscribe(f, ({ topic, payload }) => h(topic, payload)));
    await sub("dt/+/telemetry", (t, p) => this.onTelemetry(t, p));
    await sub("dt/+/telemetry/cbor", (t, p) => this.onTelemetry(t, p));
    // Requests only the device sends: they say it was there.
    for (const f of ["$aws/things/+/shadow/get", "$aws/things/+/shadow/update", "$aws/things/+/jobs/get", "$aws/things/+/jobs/start-next", "$aws/things/+/jobs/+/update"])
      await sub(f, (t) => this.seen(t.split("/")[2]));
    await sub("$aws/things/+/shadow/update/documents", (t) => this.emit("change", { kind: "shadow", thing: t.split("/")[2] }));
    await sub("$aws/things/+/jobs/+/update/accepted", (t) => this.emit("change", { kind: "job", thing: t.split("/")[2], jobId: t.split("/")[4] }));
    await sub("$aws/things/+/jobs/notify", (t) => this.emit("change", { kind: "job", thing: t.split("/")[2] }));
    // Commands (tools/cloud/commands.ts): a delivery to the thing, and every status change the service announces.
    await sub("$aws/commands/things/+/executions/+/request/json", (t) => this.emit("change", { kind: "command", thing: t.split("/")[3] }));
    await sub("$aws/events/commandExecution/+/+", (_t, p) => {
      const thing = jsonField(p, "thingName");
      if (thing) this.emit("change", { kind: "command", thing });
    });
    // Device Defender raises an alarm: the fleet event carries the active list, sent now rather than at the next tick.
    await sub("$aws/events/defender/alarm/+", (t) => {
      this.emit("change", { kind: "alarm", thing: t.split("/")[4] });
      if (this.clients.size) this.emit("fleet", this.fleet());
    });
    if (this.ctx.bus.kind === "embedded") {
      // aedes announces connects and disconnects (payload: the client id) on $SYS.
      const presence = (connected: boolean) => (_t: string, p: Buffer) => {
        const id = p.toString();
        if (!this.ctx.registry.get(id)) return;
        const e = this.entry(id);
        e.connected = connected;
        e.lastSeen = this.ctx.now();
        this.emit("change", { kind: "presence", thing: id, connected });
      };
      await sub("$SYS/+/new/clients", presence(true));
      await sub("$SYS/+/disconnect/clients", presence(false));
    }
    this.tick = setInterval(() => this.onTick(), 1000);
    this.tick.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.tick);
    for (const res of this.clients) res.end();
    this.clients.clear();
    for (const u of this.unsubs.splice(0)) await u();
  }

  private virtual(): VirtualNode[] {
    try {
      return this.hooks.virtualFleet?.() ?? [];
    } catch {
      return [];
    }
  }

  private onTick(): void {
    const nodes = this.virtual();
    for (const n of nodes) {
      const y = lifeYears(n.energy);
      if (y === undefined) continue;
      let h = this.life.get(n.device);
      if (!h) this.life.set(n.device, (h = []));
      const last = h[h.length - 1];
      if (!last || n.now > last[0]) h.push([n.now, y]);
      if (h.length > LIFE_HISTORY) h.splice(0, h.length - LIFE_HISTORY);
    }
    if (this.clients.size) this.emit("fleet", this.fleet());
  }

  /** Device Defender's active alarms (what GET /defender/alarms answers), or none without the service. */
  private alarms(): Alarm[] {
    try {
      return this.ctx.service<DefenderService>("defender")?.listAlarms() ?? [];
    } catch {
      return [];
    }
  }

  /** One row per thing (registered, seen, or virtual), for the fleet table. */
  fleet(): object {
    const nodes = this.virtual();
    const alarms = this.alarms();
    const byThing = new Map(nodes.filter((n) => n.thing).map((n) => [n.thing!, n]));
    const names = new Set([...this.ctx.registry.list().map((t) => t.thingName), ...this.live.keys(), ...byThing.keys()]);
    const shadows = this.ctx.service<ShadowService>("shadow");
    const rows = [...names].sort().map((thingName) => {
      const e = this.live.get(thingName);
      const last = e?.readings[e.readings.length - 1];
      const v = byThing.get(thingName);
      let reported: Record<string, unknown> | undefined;
      try {
        reported = (shadows?.get(thingName) as { state?: { reported?: Record<string, unknown> } })?.state?.reported;
      } catch {}
      return {
        thingName,
        registered: !!this.ctx.registry.get(thingName),
        connected: e?.connected ?? null,
        lastSeen: e?.lastSeen ?? null,
        version: typeof reported?.version === "string" ? reported.version : (v?.version ?? null),
        batteryMv: last ? last[2] : null,
        lastReading: last ? { t: last[0], value: last[1] } : null,
        readings: e?.readings.length ?? 0,
        alarms: alarms.filter((a) => a.thingName === thingName).length,
        virtual: v ? virtualView(v) : null,
      };
    });
    const unnamed = nodes.filter((n) => !n.thing).map(virtualView);
    const clock = nodes.length ? Math.max(...nodes.map((n) => n.now)) : null;
    return { now: this.ctx.now(), virtualNow: clock, things: rows, unprovisioned: unnamed, alarms };
  }

  thing(name: string): object {
    const t = this.ctx.registry.get(name);
    const e = this.live.get(name);
    const v = this.virtual().find((n) => n.thing === name);
    if (!t && !e && !v) throw new ApiError(404, "ResourceNotFound", `thing ${name} not found`);
    let shadow: unknown = null;
    try {
      shadow = this.ctx.service<ShadowService>("shadow")?.get(name) ?? null;
    } catch {}
    const jobs = this.ctx.service<JobsService>("jobs");
    const executions = jobs ? this.ctx.store.executionsForThing<Execution>(name) : [];
    return {
      thing: t ?? null,
      connected: e?.connected ?? null,
      lastSeen: e?.lastSeen ?? null,
      telemetry: e?.readings ?? [],
      counters: e?.counters ?? null,
      shadow,
      executions: executions.map((x) => ({ ...x, job: jobs?.getJob(x.jobId) ?? null })),
      certificates: this.ctx.registry.certificates().filter((c) => c.thingName === name),
      virtual: v ? virtualView(v) : null,
    };
  }

  energy(): object {
    return {
      devices: this.virtual().map((n) => ({ ...virtualView(n), energy: n.energy ?? null, life: this.life.get(n.device) ?? [] })),
    };
  }

  /** Without a hook (plain `xsiot cloud`): the reference firmware, signed with `<dir>/ota/signer.key.pem` if `xsiot ota keys` made one. */
  private defaultOta(): OtaPublisher | undefined {
    const key = join(dirname(this.ctx.store.db.name), "ota", KEY_FILES.key);
    if (!existsSync(key)) return undefined;
    const jobs = this.ctx.service<JobsService>("jobs");
    const streams = this.ctx.service<StreamsService>("streams");
    if (!jobs || !streams) return undefined;
    return localOtaPublisher({ jobs, streams }, { appDir: join(REPO_ROOT, "firmware"), keyPem: readFileSync(key, "utf8") });
  }

  private async publishOta(body: unknown): Promise<HttpResult> {
    this.hooks.ota ??= this.defaultOta();
    if (!this.hooks.ota) throw new ApiError(501, "NotConfigured", "OTA from the console needs a signing key and an app: run `xsiot ota keys` (or npm start)");
    if (!isObj(body)) throw new ApiError(400, "InvalidRequest", "body must be an object {things, version}");
    const { things, version } = body;
    if (!Array.isArray(things) || !things.length || things.some((t) => typeof t !== "string" || !THING.test(t)))
      throw new ApiError(400, "InvalidRequest", "things must be a non-empty array of thing names");
    if (typeof version !== "string" || !/^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$/.test(version)) throw new ApiError(400, "InvalidRequest", `version "${String(version)}" is not a version like 1.2.0`);
    for (const t of things) if (!this.ctx.registry.get(t as string)) throw new ApiError(404, "ResourceNotFound", `thing ${t} is not registered`);
    try {
      return { status: 201, body: await this.hooks.ota.publish(things as string[], version) };
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(400, "OtaFailed", (e as Error).message);
    }
  }

  /** JSON routes under /console. */
  async http(req: HttpRequest): Promise<HttpResult | undefined> {
    const [a, b, c, ...more] = req.path;
    if (a !== "console" || more.length) return undefined;
    if (req.method === "GET" && b === "fleet" && !c) return { status: 200, body: this.fleet() };
    if (req.method === "GET" && b === "things" && c) return { status: 200, body: this.thing(c) };
    if (req.method === "GET" && b === "energy" && !c) return { status: 200, body: this.energy() };
    if (req.method === "POST" && b === "ota" && !c) return this.publishOta(req.body);
    return undefined;
  }

  /** Routes that need the raw response: the event stream and the page. */
  async raw(req: IncomingMessage, res: ServerResponse, path: string[]): Promise<boolean> {
    if (req.method !== "GET") return false;
    if (path.length === 2 && path[0] === "console" && path[1] === "events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
      res.write(`retry: 2000\nevent: fleet\ndata: ${JSON.stringify(this.fleet())}\n\n`);
      this.clients.add(res);
      req.on("close", () => this.clients.delete(res));
      return true;
    }
    if (!this.web) return false;
    const asset = await consoleAssets(path);
    if (!asset) return false;
    const gz = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    const body = gz ? asset.gzip : asset.body;
    res.writeHead(200, {
      "content-type": asset.type,
      "cache-control": "no-cache",
      "content-length": body.length,
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
      vary: "accept-encoding",
      ...(gz ? { "content-encoding": "gzip" } : {}),
    });
    res.end(body);
    return true;
  }
}

function jsonField(p: Buffer, key: string): string | undefined {
  try {
    const v = (JSON.parse(p.toString()) as Record<string, unknown>)[key];
    return typeof v === "string" && THING.test(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function lifeYears(e?: EnergyReport): number | undefined {
  // A projection needs more than the first (provisioning) hours to mean anything.
  return e && e.durationMs >= 6 * 3_600_000 && Number.isFinite(e.projectedYears) ? e.projectedYears : undefined;
}

function virtualView(n: VirtualNode): object {
  return {
    device: n.device,
    thing: n.thing ?? null,
    state: n.state,
    now: n.now,
    nextWake: n.nextWake ?? null,
    averageUa: n.energy ? n.energy.averageUa : null,
    totalMah: n.energy ? n.energy.totalMah : null,
    projectedYears: lifeYears(n.energy) ?? null,
    sampled: n.sampled ?? null,
  };
}

export const consoleService = (ctx: CloudContext) => new ConsoleService(ctx);

export type { Job, Execution };
