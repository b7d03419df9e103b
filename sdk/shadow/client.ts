// ShadowClient: one device shadow (classic or named) of this thing over any
// MqttConnection, following AWS IoT's shadow MQTT contract.
//
//  - start(): subscribes to the shadow's answer topics (waiting for SUBACK, so a
//    policy refusal is a clear ShadowError and nothing is published), then sync().
//  - sync(): get -> compare desired with reported -> apply desired keys through
//    the app's onDelta handlers -> report what was applied. Desired changes made
//    while the device slept are picked up this way at the next wake.
//  - update/delta messages while connected are applied the same way; deltas whose
//    version is not newer than the last one known are stale and ignored.
//  - every request carries a clientToken; the answer on /accepted or /rejected
//    with that token settles it; no answer within timeoutMs rejects it.
// Hostile input (bad JSON, wrong types, oversized, too deep, unknown fields,
// old versions) is ignored with a trace() line; no callback throws.
import { deviceTimers, type Timers } from "../timer/timers";
import type { MqttConnection, QoS } from "../mqtt/types";
import { computeDelta, isObject, JsonObject, JsonRefused, parseObject } from "./json";

export type { Timers };

export interface ShadowOptions {
  thingName: string;
  /** Named shadow; absent: the classic (unnamed) shadow. */
  shadowName?: string;
  /** Answer deadline per request, ms (default 10000). */
  timeoutMs?: number;
  /** Largest document accepted from the network, bytes (default 8192, AWS's shadow limit). */
  maxDocumentBytes?: number;
  /** Deepest JSON nesting accepted (default 10: AWS allows 6 levels under state.desired/reported). */
  maxDepth?: number;
  /** QoS of subscriptions and requests (default 1). */
  qos?: 0 | 1;
  /** Default: Moddable's `timer` module (../timer/timers). */
  timers?: Timers;
  /** Log sink (default trace). */
  log?(line: string): void;
}

/** A shadow request that failed: `code` is the service's code (404, 409, ...), "timeout", or "subscribe". */
export class ShadowError extends Error {
  readonly code: number | string;
  constructor(code: number | string, message: string) {
    super(message);
    this.code = code;
  }
}
// `name` on the prototype: `this.name = ...` throws where Error.prototype is frozen (Moddable).
Object.defineProperty(ShadowError.prototype, "name", { value: "ShadowError", configurable: true, writable: true });

export interface ShadowDocument {
  state: { desired?: JsonObject; reported?: JsonObject; delta?: JsonObject };
  version: number;
  metadata?: JsonObject;
  timestamp?: number;
}

/** Handles one desired key: validate (throw to refuse), apply, return the value to report (undefined: report nothing). */
export type DeltaHandler = (value: unknown, key: string) => unknown;
/** Root handler: gets the desired keys no key handler claimed; returns the reported patch (or undefined). */
export type RootDeltaHandler = (delta: JsonObject) => JsonObject | undefined | void | Promise<JsonObject | undefined | void>;

interface Pending {
  resolve(doc: JsonObject): void;
  reject(e: ShadowError): void;
  timer: unknown;
}

const OPS = ["get", "update"] as const;
let tokenSeed = Math.floor(Math.random() * 0xffffff);

export class ShadowClient {
  readonly thingName: string;
  readonly shadowName: string | undefined;
  /** Topic prefix: $aws/things/T/shadow or $aws/things/T/shadow/name/N. */
  readonly prefix: string;
  /** Version of the shadow as last seen (get, own update, or delta); 0 before any. */
  version = 0;
  /** Desired and reported state as last seen (get, plus what was applied and reported since). */
  desired: JsonObject = {};
  reported: JsonObject = {};
  /** The failure that stopped start(), if any (e.g. the policy refused the subscription). */
  error: ShadowError | undefined;

  private conn: MqttConnection;
  private timers: Timers;
  private timeoutMs: number;
  private maxBytes: number;
  private maxDepth: number;
  private qos: QoS;
  private log: (line: string) => void;
  private handlers = new Map<string, DeltaHandler>();
  private root: RootDeltaHandler | undefined;
  private pending = new Map<string, Pending>();
  private removers: (() => void)[] = [];
  private chain: Promise<void> = Promise.resolve();
  private subscribed = false;
  private closed = false;
  private tokenPrefix: string;
  private tokenCount = 0;

  constructor(conn: MqttConnection, options: ShadowOptions) {
    const name = options.shadowName;
    if (!/^[a-zA-Z0-9:_-]{1,128}$/.test(options.thingName)) throw new RangeError(`invalid thing name "${options.thingName}"`);
    if (name !== undefined && !/^[a-zA-Z0-9:_-]{1,64}$/.test(name)) throw new RangeError(`invalid shadow name "${name}"`);
    this.conn = conn;
    this.thingName = options.thingName;
    this.shadowName = name;
    this.prefix = `$aws/things/${options.thingName}/shadow${name ? `/name/${name}` : ""}`;
    this.timers = options.timers || deviceTimers;
    this.timeoutMs = options.timeoutMs ?? 10000;
    this.maxBytes = options.maxDocumentBytes ?? 8192;
    this.maxDepth = options.maxDepth ?? 10;
    this.qos = options.qos ?? 1;
    this.log = options.log || ((line) => trace(`${line}\n`));
    this.tokenPrefix = (tokenSeed++ & 0xffffff).toString(36);
    for (const op of OPS) {
      this.removers.push(conn.route(`${this.prefix}/${op}/accepted`, (t, p) => this.onAnswer(op, true, p)));
      this.removers.push(conn.route(`${this.prefix}/${op}/rejected`, (t, p) => this.onAnswer(op, false, p)));
    }
    this.removers.push(conn.route(`${this.prefix}/update/delta`, (t, p) => this.onDelta_(p)));
  }

  private get label(): string {
    return this.shadowName ? `shadow ${this.thingName}/${this.shadowName}` : `shadow ${this.thingName}`;
  }

  /**
   * Registers the handler of one desired key ("*": the root handler, for keys
   * without their own). Returns a remover.
   */
  onDelta(key: "*", handler: RootDeltaHandler): () => void;
  onDelta(key: string, handler: DeltaHandler): () => void;
  onDelta(key: string, handler: DeltaHandler | RootDeltaHandler): () => void {
    if (key === "*") {
      this.root = handler as RootDeltaHandler;
      return () => {
        if (this.root === handler) this.root = undefined;
      };
    }
    this.handlers.set(key, handler as DeltaHandler);
    return () => {
      if (this.handlers.get(key) === handler) this.handlers.delete(key);
    };
  }

  /** Subscribes (waits for SUBACK), then sync(). Rejects with a ShadowError when the broker refuses. */
  async start(): Promise<ShadowDocument | undefined> {
    await this.subscribe();
    return this.sync();
  }

  /** Subscribes to get/update accepted+rejected and update/delta; a refused filter is a ShadowError("subscribe"). */
  async subscribe(): Promise<void> {
    if (this.subscribed) return;
    const filters = [
      `${this.prefix}/get/accepted`,
      `${this.prefix}/get/rejected`,
      `${this.prefix}/update/accepted`,
      `${this.prefix}/update/rejected`,
      `${this.prefix}/update/delta`,
    ];
    let results;
    try {
      results = await this.conn.subscribe(filters, { qos: this.qos });
    } catch (e) {
      throw this.fail(new ShadowError("subscribe", `${this.label}: subscribe failed: ${(e as Error).message}`));
    }
    for (const r of results) {
      if ("reasonCode" in r) {
        const hex = "0x" + r.reasonCode.toString(16);
        throw this.fail(new ShadowError("subscribe", `${this.label}: not authorized: the broker refused the subscription to ${r.filter} (reason ${hex}); a thing may read only its own shadows`));
      }
    }
    this.subscribed = true;
  }

  private fail(e: ShadowError): ShadowError {
    this.error = e;
    this.log(e.message);
    return e;
  }

  /** The shadow document, or undefined when the shadow does not exist (404). */
  async get(): Promise<ShadowDocument | undefined> {
    let doc: JsonObject;
    try {
      doc = await this.request("get", {});
    } catch (e) {
      if (e instanceof ShadowError && e.code === 404) return undefined;
      throw e;
    }
    const state = doc.state;
    const version = doc.version;
    if (!isObject(state) || typeof version !== "number" || !Number.isSafeInteger(version) || version < 0) {
      throw new ShadowError("invalid", `${this.label}: get/accepted without a valid state and version`);
    }
    const desired = isObject(state.desired) ? state.desired : undefined;
    const reported = isObject(state.reported) ? state.reported : undefined;
    if (version > this.version) this.version = version;
    this.desired = desired || {};
    this.reported = reported || {};
    return { state: { desired, reported, delta: isObject(state.delta) ? state.delta : undefined }, version, metadata: isObject(doc.metadata) ? doc.metadata : undefined, timestamp: typeof doc.timestamp === "number" ? doc.timestamp : undefined };
  }

  /**
   * get -> desired vs reported -> apply through the handlers -> report. Used at
   * every connect or wake: changes made while the device slept apply now.
   */
  async sync(): Promise<ShadowDocument | undefined> {
    const doc = await this.get();
    if (!doc) return undefined;
    const delta = computeDelta(doc.state.desired, doc.state.reported);
    if (delta) await this.serial(() => this.apply(delta, "sync"));
    return doc;
  }

  /** Reports state (merged into state.reported). Resolves with the new shadow version. */
  async report(state: JsonObject): Promise<number> {
    return this.update({ reported: state });
  }

  /** Updates desired and/or reported (null deletes a key). Resolves with the new version. */
  async update(state: { desired?: JsonObject | null; reported?: JsonObject | null }): Promise<number> {
    const doc = await this.request("update", { state });
    const version = doc.version;
    if (typeof version === "number" && Number.isSafeInteger(version) && version > this.version) this.version = version;
    if (isObject(state.reported)) merge(this.reported, state.reported);
    if (isObject(state.desired)) merge(this.desired, state.desired);
    return this.version;
  }

  /** Removes routes, rejects what is waiting. Subscriptions are left to the connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.removers) r();
    this.removers = [];
    this.pending.forEach((p) => {
      this.timers.clearTimeout(p.timer);
      p.reject(new ShadowError("closed", `${this.label}: closed`));
    });
    this.pending.clear();
  }

  // ------------------------------------------------------------ internals

  private request(op: "get" | "update", body: JsonObject): Promise<JsonObject> {
    if (this.closed) return Promise.reject(new ShadowError("closed", `${this.label}: closed`));
    if (this.error) return Promise.reject(this.error);
    const clientToken = `${this.tokenPrefix}-${++this.tokenCount}`;
    body.clientToken = clientToken;
    return new Promise<JsonObject>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        if (!this.pending.delete(clientToken)) return;
        reject(new ShadowError("timeout", `${this.label}: no answer to ${op} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(clientToken, { resolve, reject, timer });
      this.conn.publish(`${this.prefix}/${op}`, JSON.stringify(body), { qos: this.qos }).catch((e: Error) => {
        const p = this.pending.get(clientToken);
        if (!p) return;
        this.pending.delete(clientToken);
        this.timers.clearTimeout(p.timer);
        reject(new ShadowError("publish", `${this.label}: ${op} not delivered: ${e.message}`));
      });
    });
  }

  private parse(what: string, payload: ArrayBuffer): JsonObject | undefined {
    try {
      return parseObject(payload, this.maxBytes, this.maxDepth);
    } catch (e) {
      this.log(`${this.label}: ${what} ignored: ${e instanceof JsonRefused ? e.message : String(e)}`);
      return undefined;
    }
  }

  private onAnswer(op: string, accepted: boolean, payload: ArrayBuffer): void {
    const doc = this.parse(`${op}/${accepted ? "accepted" : "rejected"}`, payload);
    if (!doc) return;
    const token = doc.clientToken;
    if (typeof token !== "string") return; // someone else's request, or a broadcast
    const p = this.pending.get(token);
    if (!p) return; // not ours, or already timed out
    this.pending.delete(token);
    this.timers.clearTimeout(p.timer);
    if (accepted) p.resolve(doc);
    else {
      const code = typeof doc.code === "number" ? doc.code : "rejected";
      const message = typeof doc.message === "string" ? doc.message.slice(0, 200) : "rejected";
      p.reject(new ShadowError(code, `${this.label}: ${op} rejected: ${code} ${message}`));
    }
  }

  private onDelta_(payload: ArrayBuffer): void {
    const doc = this.parse("delta", payload);
    if (!doc) return;
    const version = doc.version;
    const state = doc.state;
    if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 0) {
      this.log(`${this.label}: delta ignored: no valid version`);
      return;
    }
    if (!isObject(state)) {
      this.log(`${this.label}: delta ignored: state is not an object`);
      return;
    }
    if (version <= this.version) {
      this.log(`${this.label}: delta ignored: stale version ${version} (known ${this.version})`);
      return;
    }
    this.version = version;
    void this.serial(() => this.apply(state, `delta v${version}`));
  }

  /** Runs applies one after another, never rejecting. */
  private serial(f: () => Promise<void>): Promise<void> {
    const next = this.chain.then(f).catch((e: unknown) => this.log(`${this.label}: apply failed: ${e instanceof Error ? e.message : String(e)}`));
    this.chain = next;
    return next;
  }

  private async apply(delta: JsonObject, source: string): Promise<void> {
    const patch: JsonObject = {};
    let rest: JsonObject | undefined;
    let any = false;
    for (const key of Object.keys(delta)) {
      const value = delta[key];
      const h = this.handlers.get(key);
      if (!h) {
        (rest || (rest = {}))[key] = value;
        continue;
      }
      try {
        const out = await h(value, key);
        merge(this.desired, { [key]: value });
        if (out !== undefined) {
          patch[key] = out;
          any = true;
        }
      } catch (e) {
        this.log(`${this.label}: desired.${key} refused (${source}): ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (rest) {
      const root = this.root;
      if (!root) this.log(`${this.label}: desired ${Object.keys(rest).join(", ")} ignored (${source}): no handler`);
      else {
        try {
          const out = await root(rest);
          if (isObject(out)) {
            for (const k of Object.keys(out)) patch[k] = out[k];
            if (Object.keys(out).length) any = true;
          }
        } catch (e) {
          this.log(`${this.label}: desired ${Object.keys(rest).join(", ")} refused (${source}): ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
    if (!any) return;
    try {
      await this.report(patch);
    } catch (e) {
      this.log(`${this.label}: report after ${source} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

function merge(target: JsonObject, patch: JsonObject): void {
  for (const k of Object.keys(patch)) {
    const v = patch[k];
    if (v === null) delete target[k];
    else if (isObject(v)) {
      if (!isObject(target[k])) target[k] = {};
      merge(target[k] as JsonObject, v);
    } else target[k] = v;
  }
}

export default ShadowClient;
