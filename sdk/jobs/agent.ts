// JobsAgent: runs AWS IoT Jobs executions for this thing over any MqttConnection.
//
//  - start(): subscribes (waits for SUBACK: a refusal is a clear JobsError), then
//    start-next. notify-next while idle starts the next job the same way.
//  - A job's handler is chosen by document.operation ({"afr_ota": ...}: "afr_ota").
//    Malformed document -> FAILED with a reason; unknown operation -> REJECTED
//    (AWS: REJECTED is "the device received an invalid or incompatible request";
//    the device will not run what it does not support).
//  - Updates carry expectedVersion; a VersionMismatch re-reads the execution
//    (J/get) and retries once. TerminalStateReached, or notify-next naming
//    another job (or none), means the job ended elsewhere: `canceled` is set.
//  - progress() is rate-bounded (progressIntervalMs): calls in between merge.
//  - The execution in progress and the handler's save() live in key-value
//    storage, so a job continues after deep sleep or reboot: a handler that
//    returns without ending the job is resumed by the next start().
//  - stepTimeoutInMinutes is sent with start-next and each progress update;
//    locally, when it passes with the handler still running, `canceled` is set.
// Hostile input is ignored with a trace() line; no callback throws.
import { deviceTimers, type Timers } from "../timer/timers";
import KeyValue from "embedded:storage/key-value";
import type { MqttConnection, QoS } from "../mqtt/types";
import { isObject, JsonObject, JsonRefused, parseObject } from "../shadow/json";
import type { JobContext, JobExecution, JobHandler, JobStatus, StatusDetails } from "./types";

export type { Timers };

/** What the agent needs of a key-value store: Moddable's embedded:storage/key-value (format "string") or a test double. */
export interface JobsStorage {
  /** A string, or undefined when the key is absent. */
  read(key: string): unknown;
  write(key: string, value: string): void;
  delete(key: string): void;
  close(): void;
}

export interface JobsAgentOptions {
  thingName: string;
  /** Answer deadline per request, ms (default 10000). */
  timeoutMs?: number;
  /** Largest message accepted (default 34000: a 32 KB job document plus its envelope). */
  maxDocumentBytes?: number;
  /** Deepest JSON nesting accepted (default 16). */
  maxDepth?: number;
  /** Least time between two IN_PROGRESS updates of one execution, ms (default 5000). */
  progressIntervalMs?: number;
  /** Step timeout sent with start-next and each progress update (1..10080); also enforced locally. */
  stepTimeoutInMinutes?: number;
  /** Milliseconds in a minute for the local step timeout (tests only; default 60000). */
  minuteMs?: number;
  /** Key-value store for the execution in progress (default KeyValue.open({ path: namespace })). */
  storage?: JobsStorage;
  /** Storage namespace, at most 15 characters (default "xsiot-jobs"). */
  namespace?: string;
  qos?: 0 | 1;
  /** Default: Moddable's `timer` module (../timer/timers). */
  timers?: Timers;
  /** Clock, ms (default Date.now); only differences are used. */
  now?(): number;
  log?(line: string): void;
}

/** A jobs request that failed: `code` is the service's code (VersionMismatch, ...), "timeout", "subscribe"... */
export class JobsError extends Error {
  readonly code: string;
  readonly executionState?: JsonObject;
  constructor(code: string, message: string, executionState?: JsonObject) {
    super(message);
    this.code = code;
    this.executionState = executionState;
  }
}
// `name` on the prototype: `this.name = ...` throws where Error.prototype is frozen (Moddable).
Object.defineProperty(JobsError.prototype, "name", { value: "JobsError", configurable: true, writable: true });

const TERMINAL: JobStatus[] = ["SUCCEEDED", "FAILED", "REJECTED", "REMOVED", "CANCELED", "TIMED_OUT"];
const STATUSES: JobStatus[] = ["QUEUED", "IN_PROGRESS", ...TERMINAL];
const JOB_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const DETAIL_KEY = /^[a-zA-Z0-9:_-]{1,128}$/;
const MAX_DETAILS = 10;
const MAX_DETAIL_VALUE = 1024;
/** Largest saved handler state, bytes of JSON (NVS strings hold ~4000). */
export const MAX_SAVED_STATE = 2048;
const KEY_EXEC = "exec";
const KEY_STATE = "state";

interface Pending {
  resolve(doc: JsonObject): void;
  reject(e: JobsError): void;
  timer: unknown;
}

interface Stored {
  jobId: string;
  executionNumber?: number;
}

let tokenSeed = Math.floor(Math.random() * 0xffffff);

/** statusDetails as AWS accepts them: at most 10 keys [a-zA-Z0-9:_-], non-empty string values <= 1024. */
function boundDetails(d: StatusDetails | undefined, into: StatusDetails): StatusDetails {
  if (!d) return into;
  for (const k of Object.keys(d)) {
    let v = d[k];
    if (!DETAIL_KEY.test(k)) continue;
    v = typeof v === "string" ? v : String(v);
    if (v.length === 0) v = "-";
    if (v.length > MAX_DETAIL_VALUE) v = v.slice(0, MAX_DETAIL_VALUE);
    if (!(k in into) && Object.keys(into).length >= MAX_DETAILS) continue;
    into[k] = v;
  }
  return into;
}

/** One execution being run: the context the handler sees. */
class Run implements JobContext {
  readonly execution: JobExecution;
  canceled = false;
  cancelReason: string | undefined;
  /** A terminal status was accepted by the service (or is being sent). */
  ending = false;
  ended = false;
  version: number | undefined;
  pendingDetails: StatusDetails | undefined;
  pendingWaiters: { resolve(): void; reject(e: Error): void }[] = [];
  progressTimer: unknown;
  lastProgressAt = -Infinity;
  stepTimer: unknown;
  /** Updates of one execution go out one at a time (each needs the version the previous one made). */
  chain: Promise<void> = Promise.resolve();
  constructor(
    private agent: JobsAgent,
    execution: JobExecution,
    readonly operation: string,
  ) {
    this.execution = execution;
    this.version = execution.versionNumber;
  }
  progress(details: StatusDetails): Promise<void> {
    return this.agent._progress(this, details);
  }
  succeed(details?: StatusDetails): Promise<void> {
    return this.agent._end(this, "SUCCEEDED", details);
  }
  fail(reason: string, details?: StatusDetails): Promise<void> {
    return this.agent._end(this, "FAILED", boundDetails(details, { reason: String(reason) }));
  }
  reject(reason: string, details?: StatusDetails): Promise<void> {
    return this.agent._end(this, "REJECTED", boundDetails(details, { reason: String(reason) }));
  }
  load(): Record<string, unknown> | undefined {
    return this.agent._load(this.execution.jobId);
  }
  save(state: Record<string, unknown>): void {
    this.agent._save(this.execution.jobId, state);
  }
}

export class JobsAgent {
  readonly thingName: string;
  /** Topic prefix $aws/things/T/jobs. */
  readonly prefix: string;
  /** The failure that stopped start(), if any. */
  error: JobsError | undefined;

  private conn: MqttConnection;
  private handlers = new Map<string, JobHandler>();
  private timers: Timers;
  private timeoutMs: number;
  private maxBytes: number;
  private maxDepth: number;
  private progressIntervalMs: number;
  private stepTimeout: number | undefined;
  private minuteMs: number;
  private storageOption: JobsStorage | undefined;
  private kv: JobsStorage | undefined;
  private namespace: string;
  private qos: QoS;
  private now: () => number;
  private log: (line: string) => void;
  private pending = new Map<string, Pending>();
  private removers: (() => void)[] = [];
  private run: Run | undefined;
  private starting = false;
  private startAgain = false;
  private pausedJobId: string | undefined;
  private idleWaiters: (() => void)[] = [];
  private tokenPrefix: string;
  private tokenCount = 0;
  private subscribed = false;
  private closed = false;

  constructor(conn: MqttConnection, options: JobsAgentOptions) {
    if (!/^[a-zA-Z0-9:_-]{1,128}$/.test(options.thingName)) throw new RangeError(`invalid thing name "${options.thingName}"`);
    const ns = options.namespace ?? "xsiot-jobs";
    if (ns.length < 1 || ns.length > 15) throw new RangeError("storage namespace must be 1-15 characters");
    const st = options.stepTimeoutInMinutes;
    if (st !== undefined && (!Number.isInteger(st) || st < 1 || st > 10080)) throw new RangeError("stepTimeoutInMinutes must be an integer from 1 to 10080");
    this.conn = conn;
    this.thingName = options.thingName;
    this.prefix = `$aws/things/${options.thingName}/jobs`;
    this.timers = options.timers || deviceTimers;
    this.timeoutMs = options.timeoutMs ?? 10000;
    this.maxBytes = options.maxDocumentBytes ?? 34000;
    this.maxDepth = options.maxDepth ?? 16;
    this.progressIntervalMs = options.progressIntervalMs ?? 5000;
    this.stepTimeout = st;
    this.minuteMs = options.minuteMs ?? 60000;
    this.storageOption = options.storage;
    this.namespace = ns;
    this.qos = options.qos ?? 1;
    this.now = options.now || Date.now;
    this.log = options.log || ((line) => trace(`${line}\n`));
    this.tokenPrefix = (tokenSeed++ & 0xffffff).toString(36);
    const p = this.prefix;
    this.removers.push(conn.route(`${p}/notify-next`, (t, m) => this.guard("notify-next", () => this.onNotifyNext(m))));
    this.removers.push(conn.route(`${p}/start-next/accepted`, (t, m) => this.guard(t, () => this.onAnswer(m, true))));
    this.removers.push(conn.route(`${p}/start-next/rejected`, (t, m) => this.guard(t, () => this.onAnswer(m, false))));
    for (const op of ["get", "update"]) {
      this.removers.push(conn.route(`${p}/+/${op}/accepted`, (t, m) => this.guard(t, () => this.onAnswer(m, true))));
      this.removers.push(conn.route(`${p}/+/${op}/rejected`, (t, m) => this.guard(t, () => this.onAnswer(m, false))));
    }
  }

  /** Registers the handler for one job operation. Returns a remover. */
  on(operation: string, handler: JobHandler): () => void {
    this.handlers.set(operation, handler);
    return () => {
      if (this.handlers.get(operation) === handler) this.handlers.delete(operation);
    };
  }

  /** The execution being run, if any. */
  get current(): JobExecution | undefined {
    return this.run ? this.run.execution : undefined;
  }

  /** Subscribes (waits for SUBACK), then asks for the next job (start-next). */
  async start(): Promise<void> {
    if (!this.subscribed) {
      const p = this.prefix;
      const filters = [`${p}/notify-next`, `${p}/start-next/accepted`, `${p}/start-next/rejected`, `${p}/+/get/accepted`, `${p}/+/get/rejected`, `${p}/+/update/accepted`, `${p}/+/update/rejected`];
      let results;
      try {
        results = await this.conn.subscribe(filters, { qos: this.qos });
      } catch (e) {
        throw this.fail(new JobsError("subscribe", `jobs ${this.thingName}: subscribe failed: ${(e as Error).message}`));
      }
      for (const r of results) {
        if ("reasonCode" in r) throw this.fail(new JobsError("subscribe", `jobs ${this.thingName}: not authorized: the broker refused the subscription to ${r.filter} (reason 0x${r.reasonCode.toString(16)})`));
      }
      this.subscribed = true;
    }
    this.startNext();
  }

  /**
   * Resolves when nothing is running: start-next answered, and the handler (if
   * any) ended the job or returned (paused until the next start). Rejects after deadlineMs.
   */
  idle(deadlineMs = 60000): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: unknown;
      const waiter = () => {
        this.timers.clearTimeout(timer);
        resolve();
      };
      timer = this.timers.setTimeout(() => {
        const i = this.idleWaiters.indexOf(waiter);
        if (i >= 0) this.idleWaiters.splice(i, 1);
        reject(new JobsError("timeout", `jobs ${this.thingName}: still busy after ${deadlineMs} ms`));
      }, deadlineMs);
      this.idleWaiters.push(waiter);
    });
  }

  /** Removes routes, stops timers, rejects what is waiting. Saved state stays in storage. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.removers) r();
    this.removers = [];
    if (this.run) this.stopTimers(this.run);
    this.pending.forEach((p) => {
      this.timers.clearTimeout(p.timer);
      p.reject(new JobsError("closed", `jobs ${this.thingName}: closed`));
    });
    this.pending.clear();
  }

  // ------------------------------------------------------------ storage

  private store(): JobsStorage {
    if (!this.kv) this.kv = this.storageOption || KeyValue.open({ path: this.namespace, format: "string" });
    return this.kv;
  }
  private readJson(key: string): unknown {
    try {
      const raw = this.store().read(key);
      if (typeof raw !== "string" || raw.length > 4000) return undefined;
      return JSON.parse(raw);
    } catch (e) {
      this.log(`jobs: stored ${key} unreadable, dropped: ${(e as Error).message}`);
      return undefined;
    }
  }
  private readStored(): Stored | undefined {
    const v = this.readJson(KEY_EXEC);
    return isObject(v) && typeof v.jobId === "string" ? { jobId: v.jobId, executionNumber: typeof v.executionNumber === "number" ? v.executionNumber : undefined } : undefined;
  }
  private clearStored(): void {
    try {
      const kv = this.store();
      kv.delete(KEY_STATE);
      kv.delete(KEY_EXEC);
    } catch (e) {
      this.log(`jobs: clearing storage failed: ${(e as Error).message}`);
    }
  }
  /** @internal */
  _load(jobId: string): Record<string, unknown> | undefined {
    const v = this.readJson(KEY_STATE);
    return isObject(v) && v.j === jobId && isObject(v.s) ? v.s : undefined;
  }
  /** @internal */
  _save(jobId: string, state: Record<string, unknown>): void {
    const text = JSON.stringify({ j: jobId, s: state });
    if (text.length > MAX_SAVED_STATE) throw new RangeError(`job state of ${text.length} bytes exceeds ${MAX_SAVED_STATE}`);
    this.store().write(KEY_STATE, text);
  }

  // ------------------------------------------------------------ requests

  private fail(e: JobsError): JobsError {
    this.error = e;
    this.log(e.message);
    return e;
  }

  private request(topic: string, body: JsonObject): Promise<JsonObject> {
    if (this.closed) return Promise.reject(new JobsError("closed", `jobs ${this.thingName}: closed`));
    const clientToken = `${this.tokenPrefix}-${++this.tokenCount}`;
    body.clientToken = clientToken;
    return new Promise<JsonObject>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        if (!this.pending.delete(clientToken)) return;
        reject(new JobsError("timeout", `jobs ${this.thingName}: no answer on ${topic} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(clientToken, { resolve, reject, timer });
      this.conn.publish(`${this.prefix}/${topic}`, JSON.stringify(body), { qos: this.qos }).catch((e: Error) => {
        const p = this.pending.get(clientToken);
        if (!p) return;
        this.pending.delete(clientToken);
        this.timers.clearTimeout(p.timer);
        reject(new JobsError("publish", `jobs ${this.thingName}: ${topic} not delivered: ${e.message}`));
      });
    });
  }

  private guard(what: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.log(`jobs: ${what} ignored: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private parse(what: string, payload: ArrayBuffer): JsonObject | undefined {
    try {
      return parseObject(payload, this.maxBytes, this.maxDepth);
    } catch (e) {
      this.log(`jobs: ${what} ignored: ${e instanceof JsonRefused ? e.message : String(e)}`);
      return undefined;
    }
  }

  private onAnswer(payload: ArrayBuffer, accepted: boolean): void {
    const doc = this.parse(accepted ? "accepted" : "rejected", payload);
    if (!doc) return;
    const token = doc.clientToken;
    if (typeof token !== "string") return;
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    this.timers.clearTimeout(p.timer);
    if (accepted) p.resolve(doc);
    else {
      const code = typeof doc.code === "string" ? doc.code.slice(0, 64) : "rejected";
      const message = typeof doc.message === "string" ? doc.message.slice(0, 200) : "";
      p.reject(new JobsError(code, `jobs ${this.thingName}: ${code} ${message}`, isObject(doc.executionState) ? doc.executionState : undefined));
    }
  }

  /** An execution from the service, validated; undefined (with a trace) when unusable. */
  private execution(v: unknown, what: string): JobExecution | undefined {
    if (!isObject(v)) return undefined;
    const { jobId, status, versionNumber, executionNumber } = v;
    if (typeof jobId !== "string" || !JOB_ID.test(jobId)) {
      this.log(`jobs: ${what} ignored: invalid jobId`);
      return undefined;
    }
    const details: StatusDetails = {};
    if (isObject(v.statusDetails)) for (const k of Object.keys(v.statusDetails)) if (typeof v.statusDetails[k] === "string") details[k] = v.statusDetails[k] as string;
    return {
      jobId,
      document: v.jobDocument as Record<string, unknown>, // checked in runExecution
      status: typeof status === "string" && STATUSES.indexOf(status as JobStatus) >= 0 ? (status as JobStatus) : "IN_PROGRESS",
      versionNumber: typeof versionNumber === "number" && Number.isSafeInteger(versionNumber) ? versionNumber : -1,
      executionNumber: typeof executionNumber === "number" && Number.isSafeInteger(executionNumber) ? executionNumber : undefined,
      statusDetails: details,
    };
  }

  // ------------------------------------------------------------ flow

  private isIdle(): boolean {
    return !this.run && !this.starting;
  }
  private checkIdle(): void {
    if (!this.isIdle()) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  private startNext(): void {
    if (this.closed) return;
    if (this.run || this.starting) {
      this.startAgain = true;
      return;
    }
    this.starting = true;
    this.startAgain = false;
    const body: JsonObject = {};
    if (this.stepTimeout !== undefined) body.stepTimeoutInMinutes = this.stepTimeout;
    this.request("start-next", body).then(
      (doc) => {
        this.starting = false;
        const ex = doc.execution === undefined ? undefined : this.execution(doc.execution, "start-next");
        if (!ex) {
          const stored = this.readStored();
          if (stored) {
            this.log(`jobs: saved job ${stored.jobId} is no longer pending (canceled, removed or timed out): its state is dropped`);
            this.clearStored();
          }
          this.log("jobs: no pending job");
          this.afterStart();
          return;
        }
        this.runExecution(ex);
      },
      (e: Error) => {
        this.starting = false;
        this.log(`jobs: start-next failed: ${e.message}`);
        this.afterStart();
      },
    );
  }

  private afterStart(): void {
    if (this.startAgain) this.startNext();
    else this.checkIdle();
  }

  private onNotifyNext(payload: ArrayBuffer): void {
    const doc = this.parse("notify-next", payload);
    if (!doc) return;
    const next = doc.execution === undefined ? undefined : this.execution(doc.execution, "notify-next");
    const run = this.run;
    if (run) {
      if (run.ending || run.ended || run.canceled) return;
      if (!next || next.jobId !== run.execution.jobId) this.cancel(run, "no longer pending (canceled or removed by the service)");
      return;
    }
    if (next && next.jobId !== this.pausedJobId) this.startNext();
  }

  private runExecution(ex: JobExecution): void {
    const stored = this.readStored();
    if (stored && stored.jobId !== ex.jobId) {
      this.log(`jobs: saved job ${stored.jobId} is not the next one (${ex.jobId}): its state is dropped`);
      this.clearStored();
    }
    const doc = ex.document as unknown;
    let operation: string | undefined;
    let malformed: string | undefined;
    if (!isObject(doc)) malformed = "malformed job document: not a JSON object";
    else if (typeof doc.operation === "string") operation = doc.operation;
    else if (doc.operation !== undefined) malformed = "malformed job document: operation is not a string";
    else if (isObject(doc.afr_ota)) operation = "afr_ota";
    else malformed = "malformed job document: no operation";
    if (operation !== undefined && (operation.length === 0 || operation.length > 64)) malformed = "malformed job document: operation must be 1-64 characters";
    const run = new Run(this, ex, operation || "");
    this.run = run;
    this.pausedJobId = undefined;
    if (malformed) {
      this.log(`jobs: ${ex.jobId}: ${malformed}`);
      this.finishWith(run, run.fail(malformed));
      return;
    }
    const handler = this.handlers.get(operation as string);
    if (!handler) {
      const reason = `unsupported operation "${operation}"`;
      this.log(`jobs: ${ex.jobId}: ${reason}`);
      this.finishWith(run, run.reject(reason));
      return;
    }
    try {
      this.store().write(KEY_EXEC, JSON.stringify({ jobId: ex.jobId, executionNumber: ex.executionNumber }));
    } catch (e) {
      this.log(`jobs: ${ex.jobId}: storing the execution failed: ${(e as Error).message}`);
    }
    this.log(`jobs: ${ex.jobId}: ${stored && stored.jobId === ex.jobId ? "resuming" : "starting"} ${operation}`);
    this.armStepTimer(run);
    let result: void | Promise<void>;
    try {
      result = handler(run);
    } catch (e) {
      result = Promise.reject(e);
    }
    this.finishWith(
      run,
      Promise.resolve(result).then(
        () => this.flushProgress(run),
        (e: unknown) => {
          const msg = e instanceof Error ? e.message : String(e);
          if (run.ending || run.ended || run.canceled) {
            this.log(`jobs: ${ex.jobId}: handler failed after the job ended: ${msg}`);
            return;
          }
          return run.fail(`handler failed: ${msg}`);
        },
      ),
    );
  }

  /** When the handler's work settles: log, release the run, look for the next job. */
  private finishWith(run: Run, work: Promise<void>): void {
    work
      .catch((e: Error) => this.log(`jobs: ${run.execution.jobId}: ${e.message}`))
      .then(() => {
        if (this.run !== run) return;
        this.stopTimers(run);
        this.run = undefined;
        if (run.ended || run.canceled) {
          if (run.canceled) this.log(`jobs: ${run.execution.jobId}: canceled: ${run.cancelReason}`);
          this.clearStored();
          this.startNext();
        } else {
          this.pausedJobId = run.execution.jobId;
          this.log(`jobs: ${run.execution.jobId}: paused IN_PROGRESS; resumes at the next start`);
          // start-next would hand the paused execution straight back (in-progress jobs come first).
          this.startAgain = false;
          this.checkIdle();
        }
      });
  }

  private cancel(run: Run, reason: string): void {
    if (run.canceled) return;
    run.canceled = true;
    run.cancelReason = reason;
    this.stopTimers(run);
    const w = run.pendingWaiters;
    run.pendingWaiters = [];
    run.pendingDetails = undefined;
    for (const x of w) x.reject(new JobsError("canceled", `job ${run.execution.jobId} canceled: ${reason}`));
  }

  private stopTimers(run: Run): void {
    this.timers.clearTimeout(run.progressTimer);
    run.progressTimer = undefined;
    this.timers.clearTimeout(run.stepTimer);
    run.stepTimer = undefined;
  }

  private armStepTimer(run: Run): void {
    if (this.stepTimeout === undefined) return;
    this.timers.clearTimeout(run.stepTimer);
    run.stepTimer = this.timers.setTimeout(() => {
      run.stepTimer = undefined;
      if (!run.ending && !run.ended) this.cancel(run, `step timeout of ${this.stepTimeout} min passed (TIMED_OUT)`);
    }, this.stepTimeout * this.minuteMs);
  }

  private notLive(run: Run): JobsError | undefined {
    if (run.canceled) return new JobsError("canceled", `job ${run.execution.jobId} canceled: ${run.cancelReason}`);
    if (run.ending || run.ended) return new JobsError("ended", `job ${run.execution.jobId} already ended`);
    return undefined;
  }

  /** @internal */
  _progress(run: Run, details: StatusDetails): Promise<void> {
    const dead = this.notLive(run);
    if (dead) return Promise.reject(dead);
    run.pendingDetails = boundDetails(details, run.pendingDetails || {});
    const p = new Promise<void>((resolve, reject) => run.pendingWaiters.push({ resolve, reject }));
    const wait = run.lastProgressAt + this.progressIntervalMs - this.now();
    if (wait <= 0) this.sendProgress(run);
    else if (run.progressTimer === undefined) run.progressTimer = this.timers.setTimeout(() => {
      run.progressTimer = undefined;
      this.sendProgress(run);
    }, wait);
    return p;
  }

  private sendProgress(run: Run): void {
    const details = run.pendingDetails;
    const waiters = run.pendingWaiters;
    run.pendingDetails = undefined;
    run.pendingWaiters = [];
    if (!details || this.notLive(run)) return;
    run.lastProgressAt = this.now();
    const merged = boundDetails(details, boundDetails(run.execution.statusDetails, {}));
    this.update(run, "IN_PROGRESS", merged).then(
      () => {
        run.execution.statusDetails = merged;
        this.armStepTimer(run);
        for (const w of waiters) w.resolve();
      },
      (e: Error) => {
        for (const w of waiters) w.reject(e);
      },
    );
  }

  /** Sends what progress() holds back, before the handler's run ends. */
  private flushProgress(run: Run): Promise<void> {
    if (!run.pendingDetails || this.notLive(run)) return Promise.resolve();
    const p = new Promise<void>((resolve) => run.pendingWaiters.push({ resolve, reject: () => resolve() }));
    this.timers.clearTimeout(run.progressTimer);
    run.progressTimer = undefined;
    this.sendProgress(run);
    return p;
  }

  /** @internal */
  _end(run: Run, status: JobStatus, details?: StatusDetails): Promise<void> {
    const dead = this.notLive(run);
    if (dead) return Promise.reject(dead);
    run.ending = true;
    this.timers.clearTimeout(run.progressTimer);
    run.progressTimer = undefined;
    const merged = boundDetails(details, boundDetails(run.pendingDetails, boundDetails(run.execution.statusDetails, {})));
    const waiters = run.pendingWaiters;
    run.pendingDetails = undefined;
    run.pendingWaiters = [];
    return this.update(run, status, merged).then(
      () => {
        run.ended = true;
        run.execution.status = status;
        run.execution.statusDetails = merged;
        this.log(`jobs: ${run.execution.jobId}: ${status}${merged.reason ? ` (${merged.reason})` : ""}`);
        for (const w of waiters) w.resolve();
      },
      (e: Error) => {
        run.ending = false;
        for (const w of waiters) w.reject(e);
        throw e;
      },
    );
  }

  /** Queues a J/update behind the execution's previous ones. */
  private update(run: Run, status: JobStatus, details: StatusDetails): Promise<void> {
    const p = run.chain.then(() => this.sendUpdate(run, status, details));
    run.chain = p.catch(() => undefined);
    return p;
  }

  /** J/update with expectedVersion; VersionMismatch: J/get, then one retry. */
  private async sendUpdate(run: Run, status: JobStatus, details: StatusDetails): Promise<void> {
    const jobId = run.execution.jobId;
    for (let attempt = 0; ; attempt++) {
      const body: JsonObject = { status, statusDetails: details, includeJobExecutionState: true };
      if (run.version !== undefined && run.version >= 0) body.expectedVersion = run.version;
      if (run.execution.executionNumber !== undefined) body.executionNumber = run.execution.executionNumber;
      if (status === "IN_PROGRESS" && this.stepTimeout !== undefined) body.stepTimeoutInMinutes = this.stepTimeout;
      try {
        const doc = await this.request(`${jobId}/update`, body);
        const st = doc.executionState;
        const v = isObject(st) ? st.versionNumber : undefined;
        run.version = typeof v === "number" && Number.isSafeInteger(v) ? v : run.version === undefined || run.version < 0 ? undefined : run.version + 1;
        return;
      } catch (e) {
        if (!(e instanceof JobsError)) throw e;
        const stStatus = e.executionState && typeof e.executionState.status === "string" ? e.executionState.status : undefined;
        if (e.code === "TerminalStateReached" || (stStatus && TERMINAL.indexOf(stStatus as JobStatus) >= 0)) {
          this.cancel(run, stStatus || "terminal state reached");
          throw e;
        }
        if (e.code !== "VersionMismatch" || attempt > 0) throw e;
        this.log(`jobs: ${jobId}: version mismatch (expected ${run.version}); re-reading the execution`);
        const got = await this.request(`${jobId}/get`, { includeJobDocument: false });
        const ex = isObject(got.execution) ? got.execution : undefined;
        const s = ex && typeof ex.status === "string" ? ex.status : undefined;
        if (s && TERMINAL.indexOf(s as JobStatus) >= 0) {
          this.cancel(run, s);
          throw new JobsError("canceled", `job ${jobId} is ${s}`);
        }
        const v = ex ? ex.versionNumber : undefined;
        run.version = typeof v === "number" && Number.isSafeInteger(v) ? v : undefined;
      }
    }
  }
}

export default JobsAgent;
