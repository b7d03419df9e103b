// Commands with a time to live, following AWS IoT commands' device topics:
// the cloud sends $aws/commands/things/T/executions/ID/request/json and the
// device answers on .../ID/response/json ({status, statusReason}); status
// changes are published on $aws/events/commandExecution/<name>/<STATUS>.
//
// A command sent while its thing sleeps is held here. Delivery:
//  - embedded broker: when the thing subscribes to its request topic (every
//    wake, or a reconnect), each held command whose deadline has not passed is
//    published to it; after the deadline it is never published;
//  - external broker: published at once, QoS 1, with MQTT 5's Message Expiry
//    Interval = the time left, so a v5 broker (Mosquitto 2) queues it for the
//    thing's persistent session and drops it on time.
// Either way, a command not answered by its deadline becomes TIMED_OUT, and the
// device refuses one that reaches it late by its own clock (REJECTED EXPIRED).
import { randomUUID } from "node:crypto";
import { brokerAudit, type AuditEvent } from "./audit.ts";
import { ApiError, type CloudContext, type CloudService, type HttpRequest, type HttpResult } from "./service.ts";
import { topicMatches } from "./topics.ts";
import { parseDuration } from "../sim/duration.ts";

export type CommandExecutionStatus = "CREATED" | "IN_PROGRESS" | "SUCCEEDED" | "FAILED" | "REJECTED" | "TIMED_OUT";
const TERMINAL: CommandExecutionStatus[] = ["SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT"];
const DEVICE_STATUSES = ["IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"];
const NAME = /^[a-zA-Z0-9_.-]{1,64}$/;
const MAX_PAYLOAD = 4096;
const MAX_TTL_MS = 7 * 86_400_000;

export interface CommandExecution {
  executionId: string;
  thingName: string;
  name: string;
  payload?: unknown;
  status: CommandExecutionStatus;
  statusReason?: { reasonCode: string; reasonDescription?: string };
  createdAt: number;
  /** Epoch ms: not delivered after this, TIMED_OUT if unanswered by then. */
  deadline: number;
  deliveries: number;
  lastDeliveredAt?: number;
  completedAt?: number;
}

export interface SendCommandInput {
  thingName: string;
  name: string;
  payload?: unknown;
  /** Seconds, or a duration like "30m". */
  ttl: number | string;
}

export class CommandsService implements CloudService {
  readonly name = "commands";
  private unsubs: (() => Promise<void>)[] = [];
  private sweep: NodeJS.Timeout | undefined;
  private stopAudit: (() => void) | undefined;
  /** Things connected to the embedded broker now. */
  private online = new Set<string>();
  private readonly table;

  constructor(private ctx: CloudContext) {
    this.table = ctx.store.kv<CommandExecution>("commands");
  }

  async start(): Promise<void> {
    this.unsubs.push(await this.ctx.bus.subscribe("$aws/commands/things/+/executions/+/response/json", (m) => this.onResponse(m.topic, m.payload)));
    if (this.ctx.bus.kind === "embedded") {
      const audit = brokerAudit(this.ctx.registry);
      const onEvent = (e: AuditEvent) => {
        if (!e.thing) return;
        if (e.kind === "connect") this.online.add(e.thing);
        else if (e.kind === "disconnect") this.online.delete(e.thing);
        else if (e.kind === "subscribe" && topicMatches(e.topic, requestTopic(e.thing, "x"))) void this.deliverHeld(e.thing);
      };
      audit.on("event", onEvent);
      this.stopAudit = () => audit.off("event", onEvent);
    }
    // Deadlines follow ctx.now (a test may tie it to a virtual clock): checked on every read and once a second.
    this.sweep = setInterval(() => this.expire(), 1000);
    this.sweep.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweep);
    this.stopAudit?.();
    for (const u of this.unsubs.splice(0)) await u();
  }

  // ---- operator API ---------------------------------------------------------

  async send(input: SendCommandInput): Promise<CommandExecution> {
    if (typeof input !== "object" || input === null) throw new ApiError(400, "InvalidRequest", "body must be an object");
    const { thingName, name, payload } = input;
    if (typeof thingName !== "string" || !this.ctx.registry.get(thingName)) throw new ApiError(404, "ResourceNotFound", `thing ${String(thingName)} is not registered`);
    if (typeof name !== "string" || !NAME.test(name)) throw new ApiError(400, "InvalidRequest", "name must be 1-64 of [a-zA-Z0-9_.-]");
    if (payload !== undefined && Buffer.byteLength(JSON.stringify(payload)) > MAX_PAYLOAD) throw new ApiError(413, "InvalidRequest", `payload exceeds ${MAX_PAYLOAD} bytes of JSON`);
    let ttlMs: number;
    try {
      ttlMs = parseDuration(input.ttl, "ttl");
    } catch (e) {
      throw new ApiError(400, "InvalidRequest", (e as Error).message);
    }
    if (ttlMs < 1000 || ttlMs > MAX_TTL_MS) throw new ApiError(400, "InvalidRequest", "ttl must be from 1 s to 7 d");
    const now = this.ctx.now();
    const ex: CommandExecution = { executionId: randomUUID(), thingName, name, payload, status: "CREATED", createdAt: now, deadline: now + ttlMs, deliveries: 0 };
    this.table.put(ex.executionId, ex);
    this.ctx.log.info(`command ${ex.executionId} (${name}) for ${thingName}, ttl ${Math.round(ttlMs / 1000)} s`);
    // An external broker holds it for the thing's session and drops it at expiry; the embedded one waits for the thing.
    // Never into the embedded broker's queue of an offline session: aedes would deliver it after its deadline.
    if (this.ctx.bus.kind === "external" || this.online.has(thingName)) await this.deliver(ex);
    return this.get(ex.executionId)!;
  }

  get(executionId: string): CommandExecution | undefined {
    this.expire();
    return this.table.get(executionId);
  }

  list(thingName?: string): CommandExecution[] {
    this.expire();
    return this.table
      .list()
      .map((r) => r.value)
      .filter((c) => !thingName || c.thingName === thingName)
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  async http(req: HttpRequest): Promise<HttpResult | undefined> {
    const [a, b, c, d] = req.path;
    if (a === "things" && b && c === "commands" && d === undefined) {
      if (req.method === "GET") return { status: 200, body: { commands: this.list(b) } };
      if (req.method === "POST") {
        const body = (req.body ?? {}) as Partial<SendCommandInput>;
        return { status: 201, body: await this.send({ ...body, thingName: b } as SendCommandInput) };
      }
      return undefined;
    }
    if (a === "commands" && c === undefined && req.method === "GET") {
      if (!b) return { status: 200, body: { commands: this.list(req.query.get("thing") ?? undefined) } };
      const ex = this.get(b);
      if (!ex) throw new ApiError(404, "ResourceNotFound", `command execution ${b} not found`);
      return { status: 200, body: ex };
    }
    return undefined;
  }

  // ---- delivery -------------------------------------------------------------

  private async deliverHeld(thingName: string): Promise<void> {
    this.expire();
    for (const ex of this.list(thingName)) if (ex.status === "CREATED" || ex.status === "IN_PROGRESS") await this.deliver(ex);
  }

  private async deliver(ex: CommandExecution): Promise<void> {
    // Brokers count expiry in whole seconds and may keep a message up to a second past it (Mosquitto compares
    // whole-second clocks), so the broker gets one second less than is left: its copy never outlives the deadline.
    const leftMs = ex.deadline - this.ctx.now();
    if (leftMs < 1000) return;
    const body = { name: ex.name, payload: ex.payload, deadline: ex.deadline };
    await this.ctx.bus.publish(requestTopic(ex.thingName, ex.executionId), body, { qos: 1, messageExpirySeconds: Math.max(1, Math.floor(leftMs / 1000) - 1) });
    const cur = this.table.get(ex.executionId);
    if (cur) this.table.put(ex.executionId, { ...cur, deliveries: cur.deliveries + 1, lastDeliveredAt: this.ctx.now() });
  }

  private async onResponse(topic: string, payload: Buffer): Promise<void> {
    const [, , , thingName, , executionId] = topic.split("/");
    const ex = this.table.get(executionId);
    if (!ex || ex.thingName !== thingName) return void this.ctx.log.warn(`command response for unknown execution ${executionId} from ${thingName}`);
    let body: { status?: unknown; statusReason?: { reasonCode?: unknown; reasonDescription?: unknown } };
    try {
      body = JSON.parse(payload.toString()) as typeof body;
    } catch {
      return void this.ctx.log.warn(`command ${executionId}: response from ${thingName} is not JSON`);
    }
    if (typeof body !== "object" || body === null || typeof body.status !== "string" || !DEVICE_STATUSES.includes(body.status))
      return void this.ctx.log.warn(`command ${executionId}: response from ${thingName} has no valid status`);
    if (TERMINAL.includes(ex.status)) return; // answered already (a duplicate), or timed out first
    const reason = body.statusReason;
    const statusReason =
      reason && typeof reason.reasonCode === "string"
        ? { reasonCode: reason.reasonCode.slice(0, 64), reasonDescription: typeof reason.reasonDescription === "string" ? reason.reasonDescription.slice(0, 256) : undefined }
        : undefined;
    const status = body.status as CommandExecutionStatus;
    this.table.put(executionId, { ...ex, status, statusReason, completedAt: TERMINAL.includes(status) ? this.ctx.now() : undefined });
    await this.event(ex, status, statusReason);
  }

  /** Every unanswered command past its deadline becomes TIMED_OUT. */
  private expire(): void {
    const now = this.ctx.now();
    for (const { value: ex } of this.table.list()) {
      if (TERMINAL.includes(ex.status) || now <= ex.deadline) continue;
      const statusReason = { reasonCode: "EXPIRED", reasonDescription: ex.deliveries ? "delivered but not answered before its deadline" : "the thing did not connect before the deadline" };
      this.table.put(ex.executionId, { ...ex, status: "TIMED_OUT", statusReason, completedAt: now });
      this.ctx.log.info(`command ${ex.executionId} (${ex.name}) for ${ex.thingName} expired`);
      void this.event(ex, "TIMED_OUT", statusReason).catch(() => {});
    }
  }

  private event(ex: CommandExecution, status: CommandExecutionStatus, statusReason: CommandExecution["statusReason"]): Promise<void> {
    return this.ctx.bus.publish(`$aws/events/commandExecution/${ex.name}/${status}`, {
      executionId: ex.executionId,
      status,
      statusReason,
      eventType: "COMMAND_EXECUTION",
      thingName: ex.thingName,
      timestamp: this.ctx.now(),
    });
  }
}

function requestTopic(thing: string, executionId: string): string {
  return `$aws/commands/things/${thing}/executions/${executionId}/request/json`;
}

export const commandsService = (ctx: CloudContext) => new CommandsService(ctx);
