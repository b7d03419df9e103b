// Device Shadow service, classic and named, following AWS IoT's MQTT contract:
// $aws/things/T/shadow[/name/N]/{get,update,delete} answered on /accepted or
// /rejected, with update/delta and update/documents. Timestamps are epoch seconds.
import type { CloudContext, CloudService, HttpRequest, HttpResult } from "./service.ts";
import { thingTopic } from "./topics.ts";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

export interface ShadowRecord {
  state: { desired?: Obj; reported?: Obj };
  metadata: { desired?: Obj; reported?: Obj };
  version: number;
  timestamp: number;
  /** Deleted shadows keep their version: a later update continues from it, as in AWS. */
  deleted?: boolean;
}

export const SHADOW_MAX_BYTES = 8 * 1024;
export const SHADOW_MAX_DEPTH = 6;
const SHADOW_NAME = /^[a-zA-Z0-9:_-]{1,64}$/;

export class ShadowError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as Json[]).length && a.every((v, i) => deepEqual(v, (b as Json[])[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b as Obj);
  return ka.length === kb.length && ka.every((k) => k in (b as Obj) && deepEqual((a as Obj)[k], (b as Obj)[k]));
}

function depth(v: Json): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depth));
  if (isObj(v)) return 1 + Math.max(0, ...Object.values(v).map(depth));
  return 0;
}

function leafMeta(v: Json, ts: number): Json {
  if (Array.isArray(v)) return v.map((e) => leafMeta(e, ts));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, leafMeta(e, ts)]));
  return { timestamp: ts };
}

/** Merges `patch` into `target` (mutated) with AWS rules: null deletes, objects merge, the rest replaces. */
function merge(target: Obj, meta: Obj, patch: Obj, ts: number): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete target[k];
      delete meta[k];
    } else if (isObj(v)) {
      if (!isObj(target[k])) target[k] = {};
      if (!isObj(meta[k]) || "timestamp" in (meta[k] as Obj)) meta[k] = {};
      merge(target[k] as Obj, meta[k] as Obj, v, ts);
      if (Object.keys(target[k] as Obj).length === 0) {
        delete target[k];
        delete meta[k];
      }
    } else {
      target[k] = v;
      meta[k] = leafMeta(v, ts);
    }
  }
}

/** Desired keys whose value differs from reported (recursing into objects). */
export function computeDelta(desired: Obj | undefined, reported: Obj | undefined): Obj | undefined {
  if (!desired) return undefined;
  const out: Obj = {};
  for (const [k, d] of Object.entries(desired)) {
    const r = reported?.[k];
    if (isObj(d) && isObj(r)) {
      const sub = computeDelta(d, r);
      if (sub) out[k] = sub;
    } else if (!deepEqual(d, r)) out[k] = d;
  }
  return Object.keys(out).length ? out : undefined;
}

function pick(meta: Obj | undefined, shape: Obj): Obj {
  const out: Obj = {};
  for (const k of Object.keys(shape)) {
    const m = meta?.[k];
    if (m === undefined) continue;
    out[k] = isObj(shape[k]) && isObj(m) && !("timestamp" in m) ? pick(m, shape[k] as Obj) : m;
  }
  return out;
}

function stripEmpty<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function parseRequest(payload: Buffer | string, allowEmpty: boolean): Obj {
  const size = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
  if (size > SHADOW_MAX_BYTES) throw new ShadowError(413, "The payload exceeds the maximum size allowed");
  const text = payload.toString();
  if (allowEmpty && text.trim() === "") return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ShadowError(400, "Invalid JSON");
  }
  if (!isObj(doc)) throw new ShadowError(400, "Invalid JSON");
  return doc;
}

function checkCommon(doc: Obj): { clientToken?: string; version?: number } {
  const { clientToken, version } = doc;
  if (clientToken !== undefined && (typeof clientToken !== "string" || Buffer.byteLength(clientToken) > 64)) throw new ShadowError(400, "Invalid clientToken");
  if (version !== undefined && (typeof version !== "number" || !Number.isSafeInteger(version) || version < 0)) throw new ShadowError(400, "Invalid version");
  return { clientToken: clientToken as string | undefined, version: version as number | undefined };
}

function tokenOf(payload: Buffer | string): string | undefined {
  try {
    const d = JSON.parse(payload.toString());
    if (isObj(d) && typeof d.clientToken === "string" && Buffer.byteLength(d.clientToken) <= 64) return d.clientToken;
  } catch {}
  return undefined;
}

export interface UpdateResult {
  accepted: Obj;
  delta?: Obj;
  documents: Obj;
}

export class ShadowService implements CloudService {
  readonly name = "shadow";
  private unsubs: (() => Promise<void>)[] = [];
  constructor(private ctx: CloudContext) {}

  private nowSec(): number {
    return Math.floor(this.ctx.now() / 1000);
  }
  private load(thing: string, shadow: string): ShadowRecord | undefined {
    return this.ctx.store.getShadow<ShadowRecord>(thing, shadow);
  }
  private notFound(thing: string, shadow: string): ShadowError {
    return new ShadowError(404, `No shadow exists with name: '${shadow || thing}'`);
  }

  /** The document a get returns (state with delta, metadata, version, timestamp). */
  get(thing: string, shadow = "", clientToken?: string): Obj {
    const rec = this.load(thing, shadow);
    if (!rec || rec.deleted) throw this.notFound(thing, shadow);
    const delta = computeDelta(rec.state.desired, rec.state.reported);
    return stripEmpty({
      state: stripEmpty({ ...rec.state, delta }) as Obj,
      metadata: stripEmpty({ ...rec.metadata }) as Obj,
      version: rec.version,
      timestamp: this.nowSec(),
      clientToken,
    }) as Obj;
  }

  /** Applies an update request (raw payload or object) and publishes delta/documents. */
  async update(thing: string, shadow: string, payload: Buffer | string | object): Promise<UpdateResult> {
    const raw = typeof payload === "string" || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    const doc = parseRequest(raw, false);
    const { clientToken, version } = checkCommon(doc);
    if (!("state" in doc)) throw new ShadowError(400, "Missing required node: state");
    const state = doc.state;
    if (!isObj(state)) throw new ShadowError(400, "State node must be an object");
    for (const k of Object.keys(state)) if (k !== "desired" && k !== "reported") throw new ShadowError(400, "State contains an invalid node");
    for (const section of ["desired", "reported"] as const) {
      const v = state[section];
      if (v === undefined || v === null) continue;
      if (!isObj(v)) throw new ShadowError(400, `${section === "desired" ? "Desired" : "Reported"} node must be an object`);
      if (depth(v) > SHADOW_MAX_DEPTH) throw new ShadowError(400, `JSON contains too many levels of nesting; maximum is ${SHADOW_MAX_DEPTH}`);
    }

    const ts = this.nowSec();
    const old = this.load(thing, shadow);
    const live = old && !old.deleted ? old : undefined;
    const currentVersion = old?.version ?? 0;
    if (version !== undefined && version !== currentVersion) throw new ShadowError(409, "Version conflict");

    const next: ShadowRecord = live
      ? (JSON.parse(JSON.stringify(live)) as ShadowRecord)
      : { state: {}, metadata: {}, version: currentVersion, timestamp: ts };
    delete next.deleted;
    const acceptedMeta: Obj = {};
    for (const section of ["desired", "reported"] as const) {
      const v = state[section];
      if (v === undefined) continue;
      if (v === null) {
        delete next.state[section];
        delete next.metadata[section];
        acceptedMeta[section] = { timestamp: ts };
        continue;
      }
      const target = next.state[section] ?? {};
      const meta = next.metadata[section] ?? {};
      merge(target, meta, v as Obj, ts);
      if (Object.keys(target).length) {
        next.state[section] = target;
        next.metadata[section] = meta;
      } else {
        delete next.state[section];
        delete next.metadata[section];
      }
      acceptedMeta[section] = leafMeta(v, ts) as Obj;
      if (Buffer.byteLength(JSON.stringify(target)) > SHADOW_MAX_BYTES) throw new ShadowError(413, "The payload exceeds the maximum size allowed");
    }
    next.version = currentVersion + 1;
    next.timestamp = ts;
    this.ctx.store.putShadow(thing, shadow, next);

    const accepted = stripEmpty({ state, metadata: acceptedMeta, version: next.version, timestamp: ts, clientToken }) as Obj;
    const snapshot = (r: ShadowRecord) => ({ state: { ...r.state }, metadata: { ...r.metadata }, version: r.version }) as unknown as Obj;
    const documents = stripEmpty({ previous: live ? snapshot(live) : undefined, current: snapshot(next), timestamp: ts, clientToken }) as Obj;
    let delta: Obj | undefined;
    if (isObj(state.desired)) {
      const d = computeDelta(next.state.desired, next.state.reported);
      if (d) delta = stripEmpty({ version: next.version, timestamp: ts, state: d, metadata: pick(next.metadata.desired, d), clientToken }) as Obj;
    }
    const base = this.prefix(thing, shadow);
    await this.ctx.bus.publish(`${base}/update/accepted`, accepted);
    if (delta) await this.ctx.bus.publish(`${base}/update/delta`, delta);
    await this.ctx.bus.publish(`${base}/update/documents`, documents);
    return { accepted, delta, documents };
  }

  delete(thing: string, shadow: string, payload: Buffer | string | object = ""): Obj {
    const raw = typeof payload === "string" || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    const doc = parseRequest(raw, true);
    const { clientToken, version } = checkCommon(doc);
    const rec = this.load(thing, shadow);
    if (!rec || rec.deleted) throw this.notFound(thing, shadow);
    if (version !== undefined && version !== rec.version) throw new ShadowError(409, "Version conflict");
    this.ctx.store.putShadow(thing, shadow, { state: {}, metadata: {}, version: rec.version, timestamp: this.nowSec(), deleted: true });
    return stripEmpty({ version: rec.version, timestamp: this.nowSec(), clientToken }) as Obj;
  }

  list(thing: string): string[] {
    return this.ctx.store.listShadows(thing).filter((s) => !this.load(thing, s)?.deleted);
  }

  prefix(thing: string, shadow: string): string {
    return shadow ? `$aws/things/${thing}/shadow/name/${shadow}` : `$aws/things/${thing}/shadow`;
  }

  private async onRequest(topic: string, payload: Buffer): Promise<void> {
    const parsed = thingTopic(topic);
    if (!parsed) return;
    const { thing, rest } = parsed;
    // rest: ["shadow", op] or ["shadow", "name", N, op]
    let shadow = "";
    let op: string;
    if (rest.length === 2) op = rest[1];
    else if (rest.length === 4 && rest[1] === "name") {
      shadow = rest[2];
      op = rest[3];
    } else return;
    if (op !== "get" && op !== "update" && op !== "delete") return;
    const base = this.prefix(thing, shadow);
    const reject = (e: ShadowError) =>
      this.ctx.bus.publish(`${base}/${op}/rejected`, stripEmpty({ code: e.code, message: e.message, timestamp: this.nowSec(), clientToken: tokenOf(payload) }));
    try {
      if (shadow && !SHADOW_NAME.test(shadow)) throw new ShadowError(400, "Invalid shadow name");
      if (op === "get") {
        const req = parseRequest(payload, true);
        const { clientToken } = checkCommon(req);
        await this.ctx.bus.publish(`${base}/get/accepted`, this.get(thing, shadow, clientToken));
      } else if (op === "update") {
        await this.update(thing, shadow, payload);
      } else {
        await this.ctx.bus.publish(`${base}/delete/accepted`, this.delete(thing, shadow, payload));
      }
    } catch (e) {
      if (!(e instanceof ShadowError)) {
        this.ctx.log.error(`shadow ${op} for ${thing}${shadow ? `/${shadow}` : ""}: ${(e as Error).stack}`);
        await reject(new ShadowError(500, "Internal service failure"));
        return;
      }
      this.ctx.log.info(`shadow ${op} for ${thing}${shadow ? `/${shadow}` : ""} rejected: ${e.code} ${e.message}`);
      await reject(e);
    }
  }

  async start(): Promise<void> {
    const handler = ({ topic, payload }: { topic: string; payload: Buffer }) => this.onRequest(topic, payload);
    for (const f of ["$aws/things/+/shadow/+", "$aws/things/+/shadow/name/+/+"]) this.unsubs.push(await this.ctx.bus.subscribe(f, handler));
  }
  async stop(): Promise<void> {
    for (const u of this.unsubs.splice(0)) await u();
  }

  /** GET/POST/DELETE /things/T/shadow[?name=N] */
  async http(req: HttpRequest): Promise<HttpResult | undefined> {
    const [a, thing, b, ...more] = req.path;
    if (a !== "things" || !thing || b !== "shadow" || more.length) return undefined;
    const shadow = req.query.get("name") ?? "";
    try {
      if (shadow && !SHADOW_NAME.test(shadow)) throw new ShadowError(400, "Invalid shadow name");
      if (req.method === "GET") return { status: 200, body: this.get(thing, shadow) };
      if (req.method === "POST") return { status: 200, body: (await this.update(thing, shadow, JSON.stringify(req.body ?? null))).accepted };
      if (req.method === "DELETE") return { status: 200, body: this.delete(thing, shadow, req.body === undefined ? "" : JSON.stringify(req.body)) };
      return { status: 405, body: { code: 405, message: "method not allowed" } };
    } catch (e) {
      if (e instanceof ShadowError) return { status: e.code, body: { code: e.code, message: e.message } };
      throw e;
    }
  }
}

export const shadowService = (ctx: CloudContext) => new ShadowService(ctx);
