// Jobs service following AWS IoT Jobs' MQTT contract for devices:
// $aws/things/T/jobs/{get,start-next,J/get,J/update} (+ /accepted, /rejected),
// with notify and notify-next pushed when a thing's pending list or next job changes.
// Operators create, cancel and delete jobs through the API (HTTP or programmatic).
// Timestamps in MQTT payloads are epoch seconds, as in AWS.
import type { CloudContext, CloudService, HttpRequest, HttpResult } from "./service.ts";
import { ApiError } from "./service.ts";
import { thingTopic } from "./topics.ts";

export type ExecutionStatus = "QUEUED" | "IN_PROGRESS" | "SUCCEEDED" | "FAILED" | "REJECTED" | "REMOVED" | "CANCELED" | "TIMED_OUT";
const TERMINAL: ExecutionStatus[] = ["SUCCEEDED", "FAILED", "REJECTED", "REMOVED", "CANCELED", "TIMED_OUT"];
/** Statuses a device may set with J/update. */
const DEVICE_SETTABLE: ExecutionStatus[] = ["IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"];
const JOB_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_DOC = 32 * 1024;
const MAX_TIMEOUT_MIN = 10080; // AWS: 1 to 10080 minutes

export interface Job {
  jobId: string;
  document: unknown;
  description?: string;
  targets: string[];
  status: "IN_PROGRESS" | "CANCELED" | "COMPLETED" | "DELETION_IN_PROGRESS";
  stepTimeoutInMinutes?: number;
  createdAt: number;
  lastUpdatedAt: number;
  comment?: string;
}

export interface Execution {
  jobId: string;
  thingName: string;
  status: ExecutionStatus;
  statusDetails?: Record<string, string>;
  queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  versionNumber: number;
  executionNumber: number;
  /** ms epoch at which an IN_PROGRESS execution times out (step timeout). */
  timeoutAt?: number;
}

class JobsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly executionState?: object,
  ) {
    super(message);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const sec = (ms: number) => Math.floor(ms / 1000);

function checkStatusDetails(v: unknown): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v) || Object.keys(v).length > 10) throw new JobsError("InvalidRequest", "statusDetails must be an object of at most 10 string values");
  for (const [k, s] of Object.entries(v))
    if (typeof s !== "string" || k.length > 128 || s.length > 1024) throw new JobsError("InvalidRequest", `statusDetails.${k} must be a string`);
  return v as Record<string, string>;
}
function checkTimeout(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > MAX_TIMEOUT_MIN) throw new JobsError("InvalidRequest", `stepTimeoutInMinutes must be an integer from 1 to ${MAX_TIMEOUT_MIN}`);
  return v;
}
function checkToken(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.length > 64) throw new JobsError("InvalidRequest", "clientToken must be a string of at most 64 characters");
  return v;
}

export interface CreateJobInput {
  jobId: string;
  targets: string[];
  document: unknown;
  description?: string;
  stepTimeoutInMinutes?: number;
}

export class JobsService implements CloudService {
  readonly name = "jobs";
  private unsubs: (() => Promise<void>)[] = [];
  private timers = new Map<string, NodeJS.Timeout>();
  constructor(private ctx: CloudContext) {}

  // ---- operator API ---------------------------------------------------------

  async createJob(input: CreateJobInput): Promise<Job> {
    if (!isObj(input)) throw new ApiError(400, "InvalidRequest", "body must be an object");
    const { jobId, targets, document, description } = input;
    if (typeof jobId !== "string" || !JOB_ID.test(jobId)) throw new ApiError(400, "InvalidRequest", "jobId must be 1-64 of [a-zA-Z0-9_-]");
    if (!Array.isArray(targets) || targets.length === 0 || targets.some((t) => typeof t !== "string"))
      throw new ApiError(400, "InvalidRequest", "targets must be a non-empty array of thing names");
    if (!isObj(document)) throw new ApiError(400, "InvalidRequest", "document must be a JSON object");
    if (Buffer.byteLength(JSON.stringify(document)) > MAX_DOC) throw new ApiError(413, "InvalidRequest", `document exceeds ${MAX_DOC} bytes`);
    if (description !== undefined && (typeof description !== "string" || description.length > 2028)) throw new ApiError(400, "InvalidRequest", "description must be a string");
    let stepTimeoutInMinutes: number | undefined;
    try {
      stepTimeoutInMinutes = checkTimeout(input.stepTimeoutInMinutes);
    } catch (e) {
      throw new ApiError(400, "InvalidRequest", (e as Error).message);
    }
    if (this.ctx.store.getJob(jobId)) throw new ApiError(409, "ResourceAlreadyExists", `job ${jobId} already exists`);
    const unique = [...new Set(targets)];
    for (const t of unique) if (!this.ctx.registry.get(t)) throw new ApiError(404, "ResourceNotFound", `thing ${t} is not registered`);
    const now = this.ctx.now();
    const job: Job = { jobId, document, description, targets: unique, status: "IN_PROGRESS", stepTimeoutInMinutes, createdAt: now, lastUpdatedAt: now };
    this.ctx.store.transaction(() => {
      this.ctx.store.putJob(jobId, job);
      for (const thingName of unique) {
        const prior = this.ctx.store.executionsForThing<Execution>(thingName).length;
        const ex: Execution = { jobId, thingName, status: "QUEUED", queuedAt: now, lastUpdatedAt: now, versionNumber: 1, executionNumber: prior + 1 };
        this.ctx.store.putExecution(jobId, thingName, ex);
      }
    });
    for (const t of unique) await this.notifyThing(t);
    this.ctx.log.info(`job ${jobId} created for ${unique.join(", ")}`);
    return job;
  }

  getJob(jobId: string): Job | undefined {
    return this.ctx.store.getJob<Job>(jobId);
  }
  listJobs(): Job[] {
    return this.ctx.store.listJobs<Job>();
  }
  executions(jobId: string): Execution[] {
    return this.ctx.store.executionsForJob<Execution>(jobId);
  }
  execution(jobId: string, thingName: string): Execution | undefined {
    return this.ctx.store.getExecution<Execution>(jobId, thingName);
  }

  /** Cancels a job: QUEUED executions become CANCELED, IN_PROGRESS ones too if `force`. */
  async cancelJob(jobId: string, opts: { force?: boolean; comment?: string } = {}): Promise<Job> {
    const job = this.getJob(jobId);
    if (!job) throw new ApiError(404, "ResourceNotFound", `job ${jobId} not found`);
    if (job.status === "CANCELED") return job;
    if (job.status === "COMPLETED") throw new ApiError(409, "InvalidStateTransition", `job ${jobId} is already COMPLETED`);
    return this.endJob(job, "CANCELED", opts.force === true, opts.comment);
  }

  /** Deletes a job: pending executions become REMOVED. */
  async deleteJob(jobId: string, opts: { force?: boolean } = {}): Promise<Job> {
    const job = this.getJob(jobId);
    if (!job) throw new ApiError(404, "ResourceNotFound", `job ${jobId} not found`);
    if (!opts.force && this.executions(jobId).some((e) => e.status === "IN_PROGRESS"))
      throw new ApiError(409, "InvalidStateTransition", `job ${jobId} has executions in progress (use force)`);
    return this.endJob(job, "REMOVED", true);
  }

  private async endJob(job: Job, to: "CANCELED" | "REMOVED", force: boolean, comment?: string): Promise<Job> {
    const now = this.ctx.now();
    const touched: string[] = [];
    this.ctx.store.transaction(() => {
      for (const ex of this.executions(job.jobId)) {
        if (ex.status === "QUEUED" || (force && ex.status === "IN_PROGRESS")) {
          this.clearTimer(ex);
          this.save({ ...ex, status: to, lastUpdatedAt: now, versionNumber: ex.versionNumber + 1, timeoutAt: undefined });
          touched.push(ex.thingName);
        }
      }
      job.status = to === "CANCELED" ? "CANCELED" : "DELETION_IN_PROGRESS";
      job.lastUpdatedAt = now;
      if (comment) job.comment = comment;
      this.ctx.store.putJob(job.jobId, job);
    });
    for (const t of touched) await this.notifyThing(t);
    this.ctx.log.info(`job ${job.jobId} ${to.toLowerCase()}${touched.length ? ` (${touched.join(", ")})` : ""}`);
    return job;
  }

  // ---- device API (MQTT) ----------------------------------------------------

  private save(ex: Execution): void {
    this.ctx.store.putExecution(ex.jobId, ex.thingName, ex);
  }
  private pending(thing: string): Execution[] {
    return this.ctx.store.executionsForThing<Execution>(thing).filter((e) => e.status === "QUEUED" || e.status === "IN_PROGRESS");
  }
  /** Next pending execution: in progress first, then queued, each in creation order. */
  private next(thing: string): Execution | undefined {
    const p = this.pending(thing);
    return p.find((e) => e.status === "IN_PROGRESS") ?? p.find((e) => e.status === "QUEUED");
  }
  private summary(e: Execution): object {
    return { jobId: e.jobId, queuedAt: sec(e.queuedAt), startedAt: e.startedAt && sec(e.startedAt), lastUpdatedAt: sec(e.lastUpdatedAt), versionNumber: e.versionNumber, executionNumber: e.executionNumber };
  }
  private full(e: Execution, includeDocument = true): object {
    return {
      jobId: e.jobId,
      thingName: e.thingName,
      ...(includeDocument ? { jobDocument: this.getJob(e.jobId)?.document } : {}),
      status: e.status,
      statusDetails: e.statusDetails,
      queuedAt: sec(e.queuedAt),
      startedAt: e.startedAt && sec(e.startedAt),
      lastUpdatedAt: sec(e.lastUpdatedAt),
      versionNumber: e.versionNumber,
      executionNumber: e.executionNumber,
    };
  }

  private lastNext = new Map<string, string>();
  /** Publishes notify (pending list) and, if the next job changed, notify-next. */
  private async notifyThing(thing: string): Promise<void> {
    const p = this.pending(thing);
    const ts = sec(this.ctx.now());
    const jobs: Record<string, object[]> = {};
    for (const e of p) (jobs[e.status] ??= []).push(this.summary(e));
    await this.ctx.bus.publish(`$aws/things/${thing}/jobs/notify`, { timestamp: ts, jobs });
    const next = this.next(thing);
    const key = next ? `${next.jobId}:${next.status}` : "";
    if (this.lastNext.get(thing) !== key) {
      this.lastNext.set(thing, key);
      await this.ctx.bus.publish(`$aws/things/${thing}/jobs/notify-next`, next ? { timestamp: ts, execution: this.full(next) } : { timestamp: ts });
    }
  }

  private armTimer(ex: Execution): void {
    this.clearTimer(ex);
    if (ex.status !== "IN_PROGRESS" || ex.timeoutAt === undefined) return;
    const key = `${ex.jobId}\u0000${ex.thingName}`;
    const t = setTimeout(() => {
      this.timers.delete(key);
      void this.timeOut(ex.jobId, ex.thingName).catch((e) => this.ctx.log.error(`job timeout: ${(e as Error).stack}`));
    }, Math.max(0, ex.timeoutAt - this.ctx.now()));
    t.unref();
    this.timers.set(key, t);
  }
  private clearTimer(ex: Execution): void {
    const key = `${ex.jobId}\u0000${ex.thingName}`;
    const t = this.timers.get(key);
    if (t) clearTimeout(t);
    this.timers.delete(key);
  }
  private async timeOut(jobId: string, thing: string): Promise<void> {
    const ex = this.execution(jobId, thing);
    if (!ex || ex.status !== "IN_PROGRESS" || ex.timeoutAt === undefined) return;
    if (ex.timeoutAt > this.ctx.now()) return this.armTimer(ex);
    this.save({ ...ex, status: "TIMED_OUT", lastUpdatedAt: this.ctx.now(), versionNumber: ex.versionNumber + 1, timeoutAt: undefined });
    this.ctx.log.info(`job ${jobId} on ${thing} TIMED_OUT`);
    this.completeIfDone(jobId);
    await this.notifyThing(thing);
  }
  private completeIfDone(jobId: string): void {
    const job = this.getJob(jobId);
    if (job && job.status === "IN_PROGRESS" && this.executions(jobId).every((e) => TERMINAL.includes(e.status))) {
      job.status = "COMPLETED";
      job.lastUpdatedAt = this.ctx.now();
      this.ctx.store.putJob(jobId, job);
    }
  }

  private startTimeout(ex: Execution, requested: number | undefined): number | undefined {
    const minutes = requested ?? this.getJob(ex.jobId)?.stepTimeoutInMinutes;
    return minutes === undefined ? undefined : this.ctx.now() + minutes * this.ctx.minuteMs;
  }

  private getPending(thing: string, req: Record<string, unknown>): object {
    const p = this.pending(thing);
    return {
      inProgressJobs: p.filter((e) => e.status === "IN_PROGRESS").map((e) => this.summary(e)),
      queuedJobs: p.filter((e) => e.status === "QUEUED").map((e) => this.summary(e)),
      timestamp: sec(this.ctx.now()),
      clientToken: checkToken(req.clientToken),
    };
  }

  private async startNext(thing: string, req: Record<string, unknown>): Promise<object> {
    const clientToken = checkToken(req.clientToken);
    const statusDetails = checkStatusDetails(req.statusDetails);
    const stepTimeout = checkTimeout(req.stepTimeoutInMinutes);
    const next = this.next(thing);
    if (!next) return { timestamp: sec(this.ctx.now()), clientToken };
    let ex = next;
    if (next.status === "QUEUED") {
      const now = this.ctx.now();
      ex = { ...next, status: "IN_PROGRESS", statusDetails: statusDetails ?? next.statusDetails, startedAt: now, lastUpdatedAt: now, versionNumber: next.versionNumber + 1 };
      ex.timeoutAt = this.startTimeout(ex, stepTimeout);
      this.save(ex);
      this.armTimer(ex);
    }
    return { execution: this.full(ex), timestamp: sec(this.ctx.now()), clientToken, __notify: next.status === "QUEUED" };
  }

  private describe(thing: string, jobId: string, req: Record<string, unknown>): object {
    const clientToken = checkToken(req.clientToken);
    if (req.executionNumber !== undefined && typeof req.executionNumber !== "number") throw new JobsError("InvalidRequest", "executionNumber must be a number");
    if (req.includeJobDocument !== undefined && typeof req.includeJobDocument !== "boolean") throw new JobsError("InvalidRequest", "includeJobDocument must be a boolean");
    const target = jobId === "$next" ? this.next(thing) : this.execution(jobId, thing);
    if (!target || (req.executionNumber !== undefined && req.executionNumber !== target.executionNumber))
      throw new JobsError("ResourceNotFound", `No job execution found for job ${jobId} on thing ${thing}`);
    return { execution: this.full(target, req.includeJobDocument !== false), timestamp: sec(this.ctx.now()), clientToken };
  }

  private updateExecution(thing: string, jobId: string, req: Record<string, unknown>): { body: object; changed: boolean } {
    const clientToken = checkToken(req.clientToken);
    const status = req.status as ExecutionStatus;
    if (typeof req.status !== "string") throw new JobsError("InvalidRequest", "status is required");
    const statusDetails = checkStatusDetails(req.statusDetails);
    const stepTimeout = checkTimeout(req.stepTimeoutInMinutes);
    for (const k of ["expectedVersion", "executionNumber"])
      if (req[k] !== undefined && (typeof req[k] !== "number" || !Number.isInteger(req[k]))) throw new JobsError("InvalidRequest", `${k} must be an integer`);
    for (const k of ["includeJobExecutionState", "includeJobDocument"])
      if (req[k] !== undefined && typeof req[k] !== "boolean") throw new JobsError("InvalidRequest", `${k} must be a boolean`);
    const ex = this.execution(jobId, thing);
    if (!ex || (req.executionNumber !== undefined && req.executionNumber !== ex.executionNumber))
      throw new JobsError("ResourceNotFound", `No job execution found for job ${jobId} on thing ${thing}`);
    const state = { status: ex.status, statusDetails: ex.statusDetails, versionNumber: ex.versionNumber };
    if (req.expectedVersion !== undefined && req.expectedVersion !== ex.versionNumber)
      throw new JobsError("VersionMismatch", `expectedVersion ${req.expectedVersion} does not match the current version ${ex.versionNumber}`, state);
    if (TERMINAL.includes(ex.status)) throw new JobsError("TerminalStateReached", `job execution is already ${ex.status}`, state);
    if (!DEVICE_SETTABLE.includes(status)) throw new JobsError("InvalidStateTransition", `cannot set status ${status} from ${ex.status}`, state);
    const now = this.ctx.now();
    const next: Execution = {
      ...ex,
      status,
      statusDetails: statusDetails ?? ex.statusDetails,
      startedAt: ex.startedAt ?? (status === "IN_PROGRESS" ? now : undefined),
      lastUpdatedAt: now,
      versionNumber: ex.versionNumber + 1,
    };
    if (status === "IN_PROGRESS") {
      // A new step timeout replaces the running one; none given keeps it (or starts the job's default).
      next.timeoutAt = stepTimeout !== undefined ? now + stepTimeout * this.ctx.minuteMs : ex.status === "QUEUED" ? this.startTimeout(next, undefined) : ex.timeoutAt;
    } else next.timeoutAt = undefined;
    this.save(next);
    if (TERMINAL.includes(status)) {
      this.clearTimer(next);
      this.completeIfDone(jobId);
    } else this.armTimer(next);
    const body: Record<string, unknown> = { timestamp: sec(now), clientToken };
    if (req.includeJobExecutionState) body.executionState = { status: next.status, statusDetails: next.statusDetails, versionNumber: next.versionNumber };
    if (req.includeJobDocument) body.jobDocument = this.getJob(jobId)?.document;
    return { body, changed: next.status !== ex.status };
  }

  private async onRequest(topic: string, payload: Buffer): Promise<void> {
    const parsed = thingTopic(topic);
    if (!parsed) return;
    const { thing, rest } = parsed; // ["jobs", op] or ["jobs", jobId, op]
    const base = `$aws/things/${thing}/jobs/${rest.slice(1).join("/")}`;
    let clientToken: string | undefined;
    try {
      let req: unknown = {};
      const text = payload.toString().trim();
      if (text) {
        try {
          req = JSON.parse(text);
        } catch {
          throw new JobsError("InvalidJson", "Payload is not valid JSON");
        }
      }
      if (!isObj(req)) throw new JobsError("InvalidJson", "Payload must be a JSON object");
      if (typeof req.clientToken === "string" && req.clientToken.length <= 64) clientToken = req.clientToken;
      let body: object;
      let notify = false;
      if (rest.length === 2 && rest[1] === "get") body = this.getPending(thing, req);
      else if (rest.length === 2 && rest[1] === "start-next") {
        const r = (await this.startNext(thing, req)) as Record<string, unknown>;
        notify = r.__notify === true;
        delete r.__notify;
        body = r;
      } else if (rest.length === 3 && rest[2] === "get") body = this.describe(thing, rest[1], req);
      else if (rest.length === 3 && rest[2] === "update") {
        if (!JOB_ID.test(rest[1])) throw new JobsError("InvalidTopic", `invalid job id ${rest[1]}`);
        const r = this.updateExecution(thing, rest[1], req);
        body = r.body;
        notify = r.changed;
      } else return;
      await this.ctx.bus.publish(`${base}/accepted`, body);
      if (notify) await this.notifyThing(thing);
    } catch (e) {
      if (!(e instanceof JobsError)) {
        this.ctx.log.error(`jobs ${topic}: ${(e as Error).stack}`);
        e = new JobsError("InternalError", "Internal service failure");
      }
      const err = e as JobsError;
      this.ctx.log.info(`jobs ${rest.slice(1).join("/")} for ${thing} rejected: ${err.code} ${err.message}`);
      await this.ctx.bus.publish(`${base}/rejected`, {
        code: err.code,
        message: err.message,
        clientToken,
        timestamp: sec(this.ctx.now()),
        ...(err.executionState ? { executionState: err.executionState } : {}),
      });
    }
  }

  async start(): Promise<void> {
    const handler = ({ topic, payload }: { topic: string; payload: Buffer }) => this.onRequest(topic, payload);
    for (const f of ["$aws/things/+/jobs/get", "$aws/things/+/jobs/start-next", "$aws/things/+/jobs/+/get", "$aws/things/+/jobs/+/update"])
      this.unsubs.push(await this.ctx.bus.subscribe(f, handler));
    // Re-arm step timers of executions left in progress by a previous run (expired ones time out now).
    for (const ex of this.ctx.store.allExecutions<Execution>()) if (ex.status === "IN_PROGRESS" && ex.timeoutAt !== undefined) this.armTimer(ex);
  }
  async stop(): Promise<void> {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const u of this.unsubs.splice(0)) await u();
  }

  /** /jobs, /jobs/J, /jobs/J/cancel, /jobs/J/things/T */
  async http(req: HttpRequest): Promise<HttpResult | undefined> {
    const [a, jobId, b, thing, ...more] = req.path;
    if (a !== "jobs" || more.length) return undefined;
    if (!jobId) {
      if (req.method === "GET") return { status: 200, body: { jobs: this.listJobs() } };
      if (req.method === "POST") return { status: 201, body: await this.createJob(req.body as CreateJobInput) };
      return undefined;
    }
    if (!b && req.method === "GET") {
      const job = this.getJob(jobId);
      if (!job) throw new ApiError(404, "ResourceNotFound", `job ${jobId} not found`);
      return { status: 200, body: { job, executions: this.executions(jobId) } };
    }
    if (!b && req.method === "DELETE") return { status: 200, body: await this.deleteJob(jobId, { force: req.query.get("force") === "true" }) };
    if (b === "cancel" && !thing && req.method === "POST") {
      const body = isObj(req.body) ? req.body : {};
      return { status: 200, body: await this.cancelJob(jobId, { force: body.force === true, comment: typeof body.comment === "string" ? body.comment : undefined }) };
    }
    if (b === "things" && thing && req.method === "GET") {
      const ex = this.execution(jobId, thing);
      if (!ex) throw new ApiError(404, "ResourceNotFound", `no execution of ${jobId} on ${thing}`);
      return { status: 200, body: ex };
    }
    return undefined;
  }
}

export const jobsService = (ctx: CloudContext) => new JobsService(ctx);
