// Device Defender, the detect half: device-side metric reports on
// $aws/things/T/defender/metrics/{json,cbor} are validated against AWS's report
// format (long or short keys), answered on .../accepted or .../rejected with
// {thingName, reportId, status, statusDetails: {ErrorCode, ErrorMessage}, timestamp},
// and stored; cloud-side metrics (messages sent, authorization failures,
// connection attempts) come from the embedded broker's audit stream. Security
// profiles hold behaviours ({metric, criteria: {comparisonOperator, value: {count},
// durationSeconds}}) for all things or a thing group (the thing's "group"
// attribute); a behaviour whose criteria a thing breaks raises an alarm, and
// the alarm clears when a later datapoint meets it again.
import { decode as decodeCbor } from "cbor-x";
import { brokerAudit, type AuditEvent } from "./audit.ts";
import { ApiError, type CloudContext, type CloudService, type HttpRequest, type HttpResult } from "./service.ts";

const MAX_REPORT = 16 * 1024;
const MAX_PORTS = 256;
const MAX_CONNECTIONS = 64;
const KEEP_REPORTS = 48;
const KEEP_EVENTS = 4096;

export const DEVICE_METRICS = ["aws:all-bytes-in", "aws:all-bytes-out", "aws:all-packets-in", "aws:all-packets-out", "aws:num-established-tcp-connections", "aws:num-listening-tcp-ports", "aws:num-listening-udp-ports"] as const;
export const CLOUD_METRICS = ["aws:num-messages-sent", "aws:num-authorization-failures", "aws:num-connection-attempts"] as const;
type Metric = (typeof DEVICE_METRICS)[number] | (typeof CLOUD_METRICS)[number];
const OPERATORS = ["less-than", "less-than-equals", "greater-than", "greater-than-equals"] as const;
const DURATIONS = [300, 600, 900, 1800, 3600];

export interface Behavior {
  name: string;
  metric: Metric;
  criteria: { comparisonOperator: (typeof OPERATORS)[number]; value: { count: number }; durationSeconds?: number };
}
export interface SecurityProfile {
  name: string;
  /** "all", or thing group names (a thing's "group" attribute). */
  targets: string[];
  behaviors: Behavior[];
}
export interface Alarm {
  thingName: string;
  profile: string;
  behavior: string;
  metric: Metric;
  /** The datapoint that broke the behaviour. */
  value: number;
  criteria: Behavior["criteria"];
  state: "ACTIVE" | "CLEARED";
  raisedAt: number;
  lastViolationAt: number;
  clearedAt?: number;
}
export interface StoredReport {
  reportId: number;
  receivedAt: number;
  format: "json" | "cbor";
  metrics: { bytesIn?: number; bytesOut?: number; packetsIn?: number; packetsOut?: number; establishedConnections?: number; listeningTcpPorts?: number; listeningUdpPorts?: number };
  customMetrics: Record<string, number>;
}

/** A profile every cloud starts with: what a battery node that uplinks a few times a day never comes near. */
export const BASELINE_PROFILE: SecurityProfile = {
  name: "xsiot-baseline",
  targets: ["all"],
  behaviors: [
    { name: "message-flood", metric: "aws:num-messages-sent", criteria: { comparisonOperator: "less-than-equals", value: { count: 100 }, durationSeconds: 300 } },
    { name: "authorization-failures", metric: "aws:num-authorization-failures", criteria: { comparisonOperator: "less-than-equals", value: { count: 5 }, durationSeconds: 300 } },
    { name: "reconnect-loop", metric: "aws:num-connection-attempts", criteria: { comparisonOperator: "less-than-equals", value: { count: 20 }, durationSeconds: 300 } },
    { name: "bytes-out", metric: "aws:all-bytes-out", criteria: { comparisonOperator: "less-than-equals", value: { count: 262144 } } },
    { name: "listening-ports", metric: "aws:num-listening-tcp-ports", criteria: { comparisonOperator: "less-than-equals", value: { count: 0 } } },
  ],
};

class ReportError extends Error {
  constructor(
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

const LONG: Record<string, string> = {
  hed: "header", rid: "report_id", v: "version", met: "metrics", cmet: "custom_metrics", tp: "listening_tcp_ports", up: "listening_udp_ports",
  pts: "ports", pt: "port", if: "interface", t: "total", ns: "network_stats", bi: "bytes_in", bo: "bytes_out", pi: "packets_in", po: "packets_out",
  tc: "tcp_connections", ec: "established_connections", cs: "connections", rad: "remote_addr", lp: "local_port", li: "local_interface",
};
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Rewrites short keys to long ones (depth-bounded: the format is 5 levels deep). */
function longKeys(v: unknown, depth = 0): unknown {
  if (depth > 6) throw new ReportError("Malformed", "report nests deeper than the format allows");
  if (Array.isArray(v)) return v.map((x) => longKeys(x, depth + 1));
  if (!isObj(v)) return v;
  const out: Record<string, unknown> = {};
  // Custom metric names are the device's own: never rewritten.
  for (const [k, x] of Object.entries(v)) out[LONG[k] ?? k] = depth === 0 && (k === "cmet" || k === "custom_metrics") ? x : longKeys(x, depth + 1);
  return out;
}

function portList(v: unknown, what: string): number {
  if (v === undefined) return 0;
  if (!isObj(v) || !Array.isArray(v.ports) || v.ports.length > MAX_PORTS) throw new ReportError("Malformed", `${what}.ports must be a list of at most ${MAX_PORTS}`);
  for (const p of v.ports) if (!isObj(p) || !isCount(p.port) || p.port > 65535) throw new ReportError("Malformed", `${what}.ports[].port must be 0..65535`);
  if (v.total !== undefined && (!isCount(v.total) || v.total < v.ports.length)) throw new ReportError("Malformed", `${what}.total must be a count of at least the ports listed`);
  return isCount(v.total) ? v.total : v.ports.length;
}

/** Validates a decoded report; returns its id and metrics, or throws ReportError. */
export function validateReport(raw: unknown): { reportId: number; metrics: StoredReport["metrics"]; customMetrics: Record<string, number> } {
  const r = longKeys(raw) as Record<string, unknown>;
  if (!isObj(r)) throw new ReportError("Malformed", "report must be an object");
  const header = r.header;
  if (!isObj(header) || !isCount(header.report_id)) throw new ReportError("MissingRequiredField", "header.report_id (a non-negative integer) is required");
  if (header.version !== "1.0") throw new ReportError("InvalidVersion", 'header.version must be "1.0"');
  for (const k of Object.keys(r)) if (!["header", "metrics", "custom_metrics"].includes(k)) throw new ReportError("Malformed", `unknown top-level key ${JSON.stringify(k)}`);
  const m = r.metrics;
  if (!isObj(m)) throw new ReportError("MissingRequiredField", "metrics is required");
  const metrics: StoredReport["metrics"] = {};
  for (const k of Object.keys(m)) if (!["listening_tcp_ports", "listening_udp_ports", "network_stats", "tcp_connections"].includes(k)) throw new ReportError("Malformed", `unknown metric ${JSON.stringify(k)}`);
  metrics.listeningTcpPorts = portList(m.listening_tcp_ports, "listening_tcp_ports");
  metrics.listeningUdpPorts = portList(m.listening_udp_ports, "listening_udp_ports");
  if (m.network_stats !== undefined) {
    const ns = m.network_stats;
    if (!isObj(ns)) throw new ReportError("Malformed", "network_stats must be an object");
    for (const [k, f] of [["bytes_in", "bytesIn"], ["bytes_out", "bytesOut"], ["packets_in", "packetsIn"], ["packets_out", "packetsOut"]] as const) {
      if (ns[k] === undefined) continue;
      if (!isCount(ns[k])) throw new ReportError("Malformed", `network_stats.${k} must be a non-negative integer`);
      metrics[f] = ns[k] as number;
    }
  }
  if (m.tcp_connections !== undefined) {
    const tc = m.tcp_connections;
    const ec = isObj(tc) ? tc.established_connections : undefined;
    if (!isObj(ec) || (ec.connections !== undefined && (!Array.isArray(ec.connections) || ec.connections.length > MAX_CONNECTIONS)))
      throw new ReportError("Malformed", `tcp_connections.established_connections.connections must be a list of at most ${MAX_CONNECTIONS}`);
    const list = (ec.connections as unknown[] | undefined) ?? [];
    for (const c of list) if (!isObj(c) || typeof c.remote_addr !== "string" || c.remote_addr.length > 64) throw new ReportError("Malformed", "connections[].remote_addr must be an address string");
    if (ec.total !== undefined && !isCount(ec.total)) throw new ReportError("Malformed", "established_connections.total must be a count");
    metrics.establishedConnections = isCount(ec.total) ? ec.total : list.length;
  }
  const customMetrics: Record<string, number> = {};
  if (r.custom_metrics !== undefined) {
    if (!isObj(r.custom_metrics) || Object.keys(r.custom_metrics).length > 32) throw new ReportError("Malformed", "custom_metrics must be an object of at most 32 metrics");
    for (const [name, v] of Object.entries(r.custom_metrics)) {
      if (!/^[a-zA-Z0-9_:-]{1,128}$/.test(name) || !Array.isArray(v) || v.length !== 1 || !isObj(v[0]) || typeof v[0].number !== "number" || !Number.isFinite(v[0].number))
        throw new ReportError("Malformed", `custom metric ${JSON.stringify(name)} must be [{"number": N}]`);
      customMetrics[name] = v[0].number;
    }
  }
  return { reportId: header.report_id, metrics, customMetrics };
}

function checkProfile(p: unknown): SecurityProfile {
  if (!isObj(p) || typeof p.name !== "string" || !/^[a-zA-Z0-9:_-]{1,128}$/.test(p.name)) throw new ApiError(400, "InvalidRequest", "name must be 1-128 of [a-zA-Z0-9:_-]");
  if (!Array.isArray(p.targets) || !p.targets.length || p.targets.some((t) => typeof t !== "string" || !t)) throw new ApiError(400, "InvalidRequest", 'targets must be a non-empty list: "all" or thing group names');
  if (!Array.isArray(p.behaviors) || !p.behaviors.length || p.behaviors.length > 100) throw new ApiError(400, "InvalidRequest", "behaviors must be a list of 1 to 100");
  for (const b of p.behaviors as unknown[]) {
    if (!isObj(b) || typeof b.name !== "string" || !b.name) throw new ApiError(400, "InvalidRequest", "each behavior needs a name");
    if (![...DEVICE_METRICS, ...CLOUD_METRICS].includes(b.metric as Metric)) throw new ApiError(400, "InvalidRequest", `behavior ${b.name}: metric must be one of ${[...DEVICE_METRICS, ...CLOUD_METRICS].join(", ")}`);
    const c = b.criteria;
    if (!isObj(c) || !OPERATORS.includes(c.comparisonOperator as (typeof OPERATORS)[number]) || !isObj(c.value) || !isCount(c.value.count))
      throw new ApiError(400, "InvalidRequest", `behavior ${b.name}: criteria needs comparisonOperator (${OPERATORS.join(", ")}) and value.count`);
    const cloudSide = (CLOUD_METRICS as readonly string[]).includes(b.metric as string);
    if (cloudSide && !DURATIONS.includes(c.durationSeconds as number)) throw new ApiError(400, "InvalidRequest", `behavior ${b.name}: durationSeconds must be one of ${DURATIONS.join(", ")}`);
  }
  return p as unknown as SecurityProfile;
}

function meets(value: number, c: Behavior["criteria"]): boolean {
  const n = c.value.count;
  switch (c.comparisonOperator) {
    case "less-than":
      return value < n;
    case "less-than-equals":
      return value <= n;
    case "greater-than":
      return value > n;
    default:
      return value >= n;
  }
}

export class DefenderService implements CloudService {
  readonly name = "defender";
  private unsubs: (() => Promise<void>)[] = [];
  private stopAudit: (() => void) | undefined;
  /** Cloud-side events per thing: [epoch ms, kind], newest last, bounded. */
  private events = new Map<string, [number, "msg" | "auth" | "conn"][]>();
  private readonly reports;
  private readonly profiles;
  private readonly alarms;

  constructor(private ctx: CloudContext) {
    this.reports = ctx.store.kv<StoredReport[]>("defender-reports");
    this.profiles = ctx.store.kv<SecurityProfile>("defender-profiles");
    this.alarms = ctx.store.kv<Alarm>("defender-alarms");
  }

  async start(): Promise<void> {
    if (!this.profiles.get(BASELINE_PROFILE.name)) this.profiles.put(BASELINE_PROFILE.name, BASELINE_PROFILE);
    for (const format of ["json", "cbor"] as const)
      this.unsubs.push(await this.ctx.bus.subscribe(`$aws/things/+/defender/metrics/${format}`, (m) => this.onReport(m.topic, m.payload, format)));
    if (this.ctx.bus.kind === "embedded") {
      const audit = brokerAudit(this.ctx.registry);
      const onEvent = (e: AuditEvent) => this.onAudit(e);
      audit.on("event", onEvent);
      this.stopAudit = () => audit.off("event", onEvent);
    }
  }

  async stop(): Promise<void> {
    this.stopAudit?.();
    for (const u of this.unsubs.splice(0)) await u();
  }

  // ---- reports ---------------------------------------------------------------

  private async onReport(topic: string, payload: Buffer, format: "json" | "cbor"): Promise<void> {
    const thingName = topic.split("/")[2];
    const reply = (suffix: "accepted" | "rejected", body: object) => this.ctx.bus.publish(`${topic}/${suffix}`, { thingName, ...body, timestamp: this.ctx.now() });
    let reportId: number | undefined;
    try {
      if (payload.length > MAX_REPORT) throw new ReportError("PayloadTooLarge", `report of ${payload.length} bytes exceeds ${MAX_REPORT}`);
      let raw: unknown;
      try {
        raw = format === "json" ? JSON.parse(payload.toString("utf8")) : decodeCbor(payload);
      } catch (e) {
        throw new ReportError("Malformed", `not valid ${format.toUpperCase()}: ${(e as Error).message}`);
      }
      if (isObj(raw) && isObj(raw.header ?? raw.hed)) {
        const h = (raw.header ?? raw.hed) as Record<string, unknown>;
        if (isCount(h.report_id ?? h.rid)) reportId = (h.report_id ?? h.rid) as number;
      }
      const r = validateReport(raw);
      const list = this.reports.get(thingName) ?? [];
      if (list.length && r.reportId <= list[list.length - 1].reportId) throw new ReportError("DuplicateReportId", `report_id ${r.reportId} is not above the last one (${list[list.length - 1].reportId})`);
      list.push({ reportId: r.reportId, receivedAt: this.ctx.now(), format, metrics: r.metrics, customMetrics: r.customMetrics });
      this.reports.put(thingName, list.slice(-KEEP_REPORTS));
      await reply("accepted", { reportId: r.reportId, status: "ACCEPTED" });
      this.evaluate(thingName, "device");
    } catch (e) {
      if (!(e instanceof ReportError)) throw e;
      this.ctx.log.warn(`defender: report from ${thingName} rejected: ${e.errorCode}: ${e.message}`);
      await reply("rejected", { reportId, status: "REJECTED", statusDetails: { ErrorCode: e.errorCode, ErrorMessage: e.message } });
    }
  }

  // ---- cloud-side metrics ----------------------------------------------------

  private onAudit(e: AuditEvent): void {
    if (!e.thing) return;
    const kind = e.kind === "publish" ? "msg" : e.kind.endsWith("-refused") ? "auth" : e.kind === "connect" ? "conn" : undefined;
    if (!kind) return;
    // A refused connection is both an attempt and an authorization failure.
    const list = this.events.get(e.thing) ?? [];
    const now = this.ctx.now();
    list.push([now, kind]);
    if (e.kind === "connect-refused") list.push([now, "conn"]);
    if (list.length > KEEP_EVENTS) list.splice(0, list.length - KEEP_EVENTS);
    this.events.set(e.thing, list);
    this.evaluate(e.thing, "cloud");
  }

  /** Cloud-side metric over the last durationSeconds, at ctx.now(). */
  cloudMetric(thingName: string, metric: (typeof CLOUD_METRICS)[number], durationSeconds: number): number {
    const kind = metric === "aws:num-messages-sent" ? "msg" : metric === "aws:num-authorization-failures" ? "auth" : "conn";
    const since = this.ctx.now() - durationSeconds * 1000;
    let n = 0;
    for (const [at, k] of this.events.get(thingName) ?? []) if (k === kind && at > since) n++;
    return n;
  }

  private deviceMetric(r: StoredReport, metric: (typeof DEVICE_METRICS)[number]): number | undefined {
    const m = r.metrics;
    switch (metric) {
      case "aws:all-bytes-in":
        return m.bytesIn;
      case "aws:all-bytes-out":
        return m.bytesOut;
      case "aws:all-packets-in":
        return m.packetsIn;
      case "aws:all-packets-out":
        return m.packetsOut;
      case "aws:num-established-tcp-connections":
        return m.establishedConnections;
      case "aws:num-listening-tcp-ports":
        return m.listeningTcpPorts;
      default:
        return m.listeningUdpPorts;
    }
  }

  private profilesFor(thingName: string): SecurityProfile[] {
    const group = this.ctx.registry.get(thingName)?.attributes?.group;
    return this.profiles
      .list()
      .map((r) => r.value)
      .filter((p) => p.targets.includes("all") || (group !== undefined && p.targets.includes(group)));
  }

  private evaluate(thingName: string, side: "device" | "cloud"): void {
    const last = side === "device" ? (this.reports.get(thingName) ?? []).at(-1) : undefined;
    for (const p of this.profilesFor(thingName)) {
      for (const b of p.behaviors) {
        const cloudSide = (CLOUD_METRICS as readonly string[]).includes(b.metric);
        if (cloudSide !== (side === "cloud")) continue;
        const value = cloudSide ? this.cloudMetric(thingName, b.metric as (typeof CLOUD_METRICS)[number], b.criteria.durationSeconds ?? 300) : last && this.deviceMetric(last, b.metric as (typeof DEVICE_METRICS)[number]);
        if (value === undefined) continue;
        this.datapoint(thingName, p, b, value);
      }
    }
  }

  private datapoint(thingName: string, p: SecurityProfile, b: Behavior, value: number): void {
    const key = `${thingName}/${p.name}/${b.name}`;
    const cur = this.alarms.get(key);
    const now = this.ctx.now();
    if (!meets(value, b.criteria)) {
      if (cur?.state === "ACTIVE") this.alarms.put(key, { ...cur, value: Math.max(cur.value, value), lastViolationAt: now });
      else {
        this.alarms.put(key, { thingName, profile: p.name, behavior: b.name, metric: b.metric, value, criteria: b.criteria, state: "ACTIVE", raisedAt: now, lastViolationAt: now });
        this.ctx.log.warn(`defender: ALARM ${thingName}: ${p.name}/${b.name} (${b.metric} = ${value}, expected ${b.criteria.comparisonOperator} ${b.criteria.value.count})`);
        void this.ctx.bus.publish(`$aws/events/defender/alarm/${thingName}`, { thingName, profile: p.name, behavior: b.name, metric: b.metric, value, state: "ACTIVE", timestamp: now }).catch(() => {});
      }
    } else if (cur?.state === "ACTIVE" && (b.criteria.durationSeconds === undefined || now - cur.lastViolationAt >= b.criteria.durationSeconds * 1000)) {
      this.alarms.put(key, { ...cur, state: "CLEARED", clearedAt: now });
    }
  }

  // ---- operator API ----------------------------------------------------------

  /** Alarms, active ones unless all is set; cloud-side alarms whose window has passed clear first. */
  listAlarms(opts: { thingName?: string; all?: boolean } = {}): Alarm[] {
    for (const t of this.events.keys()) this.evaluate(t, "cloud");
    return this.alarms
      .list()
      .map((r) => r.value)
      .filter((a) => (!opts.thingName || a.thingName === opts.thingName) && (opts.all || a.state === "ACTIVE"))
      .sort((a, b) => a.raisedAt - b.raisedAt);
  }
  listReports(thingName: string): StoredReport[] {
    return this.reports.get(thingName) ?? [];
  }
  putProfile(p: unknown): SecurityProfile {
    const profile = checkProfile(p);
    this.profiles.put(profile.name, profile);
    return profile;
  }

  async http(req: HttpRequest): Promise<HttpResult | undefined> {
    const [a, b, c, d] = req.path;
    if (a !== "defender") return undefined;
    if (b === "alarms" && !c && req.method === "GET") return { status: 200, body: { alarms: this.listAlarms({ thingName: req.query.get("thing") ?? undefined, all: req.query.get("all") === "true" }) } };
    if (b === "profiles" && !c && req.method === "GET") return { status: 200, body: { profiles: this.profiles.list().map((r) => r.value) } };
    if (b === "profiles" && c && !d && req.method === "PUT") return { status: 200, body: this.putProfile({ ...(isObj(req.body) ? req.body : {}), name: c }) };
    if (b === "profiles" && c && !d && req.method === "DELETE") {
      if (!this.profiles.get(c)) throw new ApiError(404, "ResourceNotFound", `security profile ${c} not found`);
      this.profiles.delete(c);
      return { status: 200, body: { name: c, deleted: true } };
    }
    if (b === "things" && c && !d && req.method === "GET") {
      const metrics = Object.fromEntries(CLOUD_METRICS.map((m) => [m, this.cloudMetric(c, m, 300)]));
      return { status: 200, body: { thingName: c, reports: this.listReports(c), cloudMetrics300s: metrics } };
    }
    return undefined;
  }
}

export const defenderService = (ctx: CloudContext) => new DefenderService(ctx);
