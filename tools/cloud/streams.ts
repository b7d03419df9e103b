// MQTT file streams (AWS IoT "streams" as FreeRTOS OTA uses them), CBOR flavour:
//   request  $aws/things/T/streams/S/get/cbor      {c?, f, l, o?, n?, b?}
//   blocks   $aws/things/T/streams/S/data/cbor     {f, i, l, p}
//   errors   $aws/things/T/streams/S/rejected/cbor {o: code, m: message, c?}
// Window k of a request is block o + k; b (a byte string) selects blocks of the
// window, bit k in byte k >> 3, least significant bit first; without b, all n.
// Files are kept in the cloud store (chunked), so streams survive a restart.
// Operators create streams through the API or HTTP (chunked upload: bodies are
// bounded). Tests may override one stream's answers (a fake stream service).
import { createHash } from "node:crypto";
import { decode, encode, CborError } from "../../sdk/cbor/index.ts";
import type { CloudContext, CloudService, HttpRequest, HttpResult } from "./service.ts";
import { ApiError } from "./service.ts";
import { thingTopic } from "./topics.ts";

export const MIN_BLOCK = 256;
export const MAX_BLOCK = 128 * 1024;
/** Per request: at most this many blocks and this many bytes. */
export const MAX_BLOCKS_PER_REQUEST = 256;
export const MAX_BYTES_PER_REQUEST = 1024 * 1024;
export const MAX_FILE = 16 * 1024 * 1024;
export const CHUNK = 128 * 1024;
const STREAM_ID = /^[a-zA-Z0-9_-]{1,128}$/;
const MAX_REQUEST = 4096;

export interface StreamFileInfo {
  fileId: number;
  size: number;
  sha256: string;
  /** Chunks of CHUNK bytes uploaded so far. */
  chunks: number[];
  complete: boolean;
}
export interface StreamInfo {
  streamId: string;
  description?: string;
  files: StreamFileInfo[];
  createdAt: number;
}
export interface StreamStats {
  requests: number;
  blocks: number;
  bytes: number;
  rejected: number;
}
export interface StreamRequest {
  c?: string;
  f: number;
  l: number;
  o: number;
  n: number;
  b?: Uint8Array;
}
/** A fake stream: sees every request for its stream id and answers as it likes. Return false to let the real service answer. */
export type StreamOverride = (r: {
  thing: string;
  streamId: string;
  payload: Buffer;
  request?: StreamRequest;
  sendData(value: unknown): Promise<void>;
  sendRejected(value: unknown): Promise<void>;
}) => boolean | Promise<boolean>;

class StreamReject extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);

export class StreamsService implements CloudService {
  readonly name = "streams";
  private unsub: (() => Promise<void>) | undefined;
  private cache = new Map<string, Buffer>();
  private overrides = new Map<string, StreamOverride>();
  readonly stats = new Map<string, StreamStats>();
  constructor(private ctx: CloudContext) {}

  private get meta() {
    return this.ctx.store.kv<StreamInfo>("streams");
  }
  private get chunks() {
    return this.ctx.store.kv<string>("stream-chunks");
  }

  // ---- operator API -----------------------------------------------------------

  /** Declares a stream and its files (sizes and SHA-256); data follows with putChunk. */
  createStream(input: { streamId: string; description?: string; files: { fileId: number; size: number; sha256: string }[] }): StreamInfo {
    if (typeof input !== "object" || input === null) throw new ApiError(400, "InvalidRequest", "body must be an object");
    const { streamId, description, files } = input;
    if (typeof streamId !== "string" || !STREAM_ID.test(streamId)) throw new ApiError(400, "InvalidRequest", "streamId must be 1-128 of [a-zA-Z0-9_-]");
    if (description !== undefined && (typeof description !== "string" || description.length > 1024)) throw new ApiError(400, "InvalidRequest", "description must be a string");
    if (!Array.isArray(files) || files.length < 1 || files.length > 10) throw new ApiError(400, "InvalidRequest", "files must be an array of 1 to 10 files");
    const seen = new Set<number>();
    for (const f of files) {
      if (typeof f !== "object" || f === null || !isInt(f.fileId) || f.fileId < 0 || f.fileId > 255) throw new ApiError(400, "InvalidRequest", "fileId must be an integer 0-255");
      if (seen.has(f.fileId)) throw new ApiError(400, "InvalidRequest", `fileId ${f.fileId} appears twice`);
      seen.add(f.fileId);
      if (!isInt(f.size) || f.size < 1 || f.size > MAX_FILE) throw new ApiError(400, "InvalidRequest", `file size must be 1 to ${MAX_FILE} bytes`);
      if (typeof f.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(f.sha256)) throw new ApiError(400, "InvalidRequest", "sha256 must be 64 lowercase hex digits");
    }
    if (this.meta.get(streamId)) throw new ApiError(409, "ResourceAlreadyExists", `stream ${streamId} already exists`);
    const info: StreamInfo = {
      streamId,
      description,
      files: files.map((f) => ({ fileId: f.fileId, size: f.size, sha256: f.sha256, chunks: [], complete: false })),
      createdAt: this.ctx.now(),
    };
    this.meta.put(streamId, info);
    this.ctx.log.info(`stream ${streamId} created (${files.map((f) => `file ${f.fileId}: ${f.size} bytes`).join(", ")})`);
    return info;
  }

  /** Stores chunk `index` (CHUNK bytes, the last one shorter) of a file; the file completes when all chunks are in and its SHA-256 matches. */
  putChunk(streamId: string, fileId: number, index: number, data: Uint8Array): StreamFileInfo {
    const info = this.meta.get(streamId);
    if (!info) throw new ApiError(404, "ResourceNotFound", `stream ${streamId} not found`);
    const file = info.files.find((f) => f.fileId === fileId);
    if (!file) throw new ApiError(404, "ResourceNotFound", `stream ${streamId} has no file ${fileId}`);
    const count = Math.ceil(file.size / CHUNK);
    if (!isInt(index) || index < 0 || index >= count) throw new ApiError(400, "InvalidRequest", `chunk index must be 0 to ${count - 1}`);
    const want = index === count - 1 ? file.size - index * CHUNK : CHUNK;
    if (data.length !== want) throw new ApiError(400, "InvalidRequest", `chunk ${index} must be ${want} bytes, got ${data.length}`);
    this.ctx.store.transaction(() => {
      this.chunks.put(`${streamId}/${fileId}/${index}`, Buffer.from(data).toString("base64"));
      if (!file.chunks.includes(index)) file.chunks.push(index);
      if (file.chunks.length === count) {
        const whole = this.assemble(streamId, file);
        const sha = createHash("sha256").update(whole).digest("hex");
        if (sha !== file.sha256) {
          file.chunks = [];
          this.meta.put(streamId, info);
          throw new ApiError(400, "ChecksumMismatch", `file ${fileId} of stream ${streamId}: uploaded data has SHA-256 ${sha}, declared ${file.sha256}; upload it again`);
        }
        file.complete = true;
        this.cache.set(`${streamId}/${fileId}`, whole);
      }
      this.meta.put(streamId, info);
    });
    return file;
  }

  /** Creates a stream from whole files at once (programmatic use, tests). */
  putStream(streamId: string, files: { fileId: number; data: Uint8Array }[], description?: string): StreamInfo {
    this.createStream({ streamId, description, files: files.map((f) => ({ fileId: f.fileId, size: f.data.length, sha256: createHash("sha256").update(f.data).digest("hex") })) });
    for (const f of files) for (let i = 0; i * CHUNK < f.data.length; i++) this.putChunk(streamId, f.fileId, i, f.data.subarray(i * CHUNK, (i + 1) * CHUNK));
    return this.getStream(streamId)!;
  }

  getStream(streamId: string): StreamInfo | undefined {
    return this.meta.get(streamId);
  }
  listStreams(): StreamInfo[] {
    return this.meta.list().map((r) => r.value);
  }
  deleteStream(streamId: string): boolean {
    const info = this.meta.get(streamId);
    if (!info) return false;
    this.ctx.store.transaction(() => {
      for (const f of info.files) for (let i = 0; i * CHUNK < f.size; i++) this.chunks.delete(`${streamId}/${f.fileId}/${i}`);
      this.meta.delete(streamId);
    });
    for (const f of info.files) this.cache.delete(`${streamId}/${f.fileId}`);
    return true;
  }

  /** Replaces the answers for one stream id (tests: a misbehaving stream); undefined restores the real service. */
  override(streamId: string, fake: StreamOverride | undefined): void {
    if (fake) this.overrides.set(streamId, fake);
    else this.overrides.delete(streamId);
  }

  /** Blocks and bytes sent per "thing/stream". */
  statsFor(thing: string, streamId: string): StreamStats {
    return this.stats.get(`${thing}/${streamId}`) ?? { requests: 0, blocks: 0, bytes: 0, rejected: 0 };
  }

  private assemble(streamId: string, file: StreamFileInfo): Buffer {
    const parts: Buffer[] = [];
    for (let i = 0; i * CHUNK < file.size; i++) {
      const b64 = this.chunks.get(`${streamId}/${file.fileId}/${i}`);
      if (b64 === undefined) throw new Error(`stream ${streamId} file ${file.fileId}: chunk ${i} missing`);
      parts.push(Buffer.from(b64, "base64"));
    }
    return Buffer.concat(parts);
  }
  private fileData(streamId: string, fileId: number): Buffer {
    const key = `${streamId}/${fileId}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const info = this.meta.get(streamId);
    if (!info) throw new StreamReject("ResourceNotFound", `stream ${streamId} not found`);
    const file = info.files.find((f) => f.fileId === fileId);
    if (!file) throw new StreamReject("ResourceNotFound", `stream ${streamId} has no file ${fileId}`);
    if (!file.complete) throw new StreamReject("ResourceNotFound", `file ${fileId} of stream ${streamId} is not fully uploaded`);
    const data = this.assemble(streamId, file);
    this.cache.set(key, data);
    return data;
  }

  // ---- device side (MQTT) -----------------------------------------------------

  private parse(payload: Buffer): StreamRequest {
    if (payload.length > MAX_REQUEST) throw new StreamReject("InvalidRequest", `request exceeds ${MAX_REQUEST} bytes`);
    let v: unknown;
    try {
      v = decode(payload, { maxDepth: 1, maxItems: 16, maxLength: MAX_REQUEST, copyBytes: true });
    } catch (e) {
      throw new StreamReject("InvalidCbor", `request is not valid CBOR: ${e instanceof CborError ? e.message : String(e)}`);
    }
    if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) throw new StreamReject("InvalidRequest", "request must be a CBOR map");
    const m = v as Record<string, unknown>;
    for (const k of Object.keys(m)) if (!["c", "f", "l", "o", "n", "b"].includes(k)) throw new StreamReject("InvalidRequest", `unknown request key "${k}"`);
    if (m.c !== undefined && (typeof m.c !== "string" || m.c.length > 64)) throw new StreamReject("InvalidRequest", "c (client token) must be a string of at most 64 characters");
    if (!isInt(m.f) || m.f < 0 || m.f > 255) throw new StreamReject("InvalidRequest", "f (file id) must be an integer 0-255");
    if (!isInt(m.l) || m.l < MIN_BLOCK || m.l > MAX_BLOCK) throw new StreamReject("BlockSizeOutOfBounds", `l (block size) must be ${MIN_BLOCK} to ${MAX_BLOCK}`);
    const o = m.o ?? 0;
    const n = m.n ?? 1;
    if (!isInt(o) || o < 0) throw new StreamReject("InvalidRequest", "o (block offset) must be a non-negative integer");
    if (!isInt(n) || n < 1 || n > MAX_BLOCKS_PER_REQUEST) throw new StreamReject("InvalidRequest", `n (blocks) must be 1 to ${MAX_BLOCKS_PER_REQUEST}`);
    if (n * m.l > MAX_BYTES_PER_REQUEST) throw new StreamReject("InvalidRequest", `a request may ask for at most ${MAX_BYTES_PER_REQUEST} bytes (n x l = ${n * m.l})`);
    if (m.b !== undefined && (!(m.b instanceof Uint8Array) || m.b.length > Math.ceil(n / 8))) throw new StreamReject("InvalidRequest", "b (bitmap) must be a byte string of at most ceil(n/8) bytes");
    return { c: m.c as string | undefined, f: m.f, l: m.l, o, n, b: m.b as Uint8Array | undefined };
  }

  private async onRequest(topic: string, payload: Buffer): Promise<void> {
    const t = thingTopic(topic);
    if (!t || t.rest.length !== 4 || t.rest[0] !== "streams" || t.rest[2] !== "get" || t.rest[3] !== "cbor") return;
    const thing = t.thing;
    const streamId = t.rest[1];
    const base = `$aws/things/${thing}/streams/${streamId}`;
    const statKey = `${thing}/${streamId}`;
    const stats = this.stats.get(statKey) ?? { requests: 0, blocks: 0, bytes: 0, rejected: 0 };
    this.stats.set(statKey, stats);
    stats.requests++;
    const sendData = (v: unknown) => this.ctx.bus.publish(`${base}/data/cbor`, v instanceof Uint8Array ? v : encode(v, { maxLength: MAX_BLOCK + 1024 }), { qos: 0 });
    const sendRejected = (v: unknown) => this.ctx.bus.publish(`${base}/rejected/cbor`, v instanceof Uint8Array ? v : encode(v), { qos: 0 });
    let req: StreamRequest | undefined;
    try {
      try {
        req = this.parse(payload);
      } catch (e) {
        if (!this.overrides.has(streamId)) throw e;
      }
      const fake = this.overrides.get(streamId);
      if (fake && (await fake({ thing, streamId, payload, request: req, sendData, sendRejected }))) return;
      if (!req) req = this.parse(payload);
      if (!STREAM_ID.test(streamId)) throw new StreamReject("InvalidRequest", "invalid stream id");
      const data = this.fileData(streamId, req.f);
      const blocks = Math.ceil(data.length / req.l);
      if (req.o >= blocks) throw new StreamReject("OffsetOutOfBounds", `o=${req.o} is past the last block (${blocks - 1}) of file ${req.f} at block size ${req.l}`);
      // The window's blocks go out back to back (the broker keeps their order); waiting for
      // each publish to settle before the next would add a broker turn per block.
      const sent: Promise<unknown>[] = [];
      for (let k = 0; k < req.n && req.o + k < blocks; k++) {
        if (req.b && !(k >> 3 < req.b.length && req.b[k >> 3] & (1 << (k & 7)))) continue;
        const i = req.o + k;
        const p = data.subarray(i * req.l, Math.min(data.length, (i + 1) * req.l));
        sent.push(sendData({ f: req.f, i, l: p.length, p: new Uint8Array(p.buffer, p.byteOffset, p.length) }));
        stats.blocks++;
        stats.bytes += p.length;
      }
      await Promise.all(sent);
    } catch (e) {
      if (!(e instanceof StreamReject)) {
        this.ctx.log.error(`streams ${topic}: ${(e as Error).stack}`);
        e = new StreamReject("InternalError", "internal service failure");
      }
      const err = e as StreamReject;
      stats.rejected++;
      this.ctx.log.info(`stream request from ${thing} for ${streamId} rejected: ${err.code} ${err.message}`);
      await sendRejected({ o: err.code, m: err.message, ...(req?.c ? { c: req.c } : {}) });
    }
  }

  async start(): Promise<void> {
    this.unsub = await this.ctx.bus.subscribe("$aws/things/+/streams/+/get/cbor", ({ topic, payload }) => this.onRequest(topic, payload));
  }
  async stop(): Promise<void> {
    await this.unsub?.();
  }

  /** GET/POST /streams, GET/DELETE /streams/S, PUT /streams/S/files/F/chunks/N {data: base64} */
  async http(req: HttpRequest): Promise<HttpResult | undefined> {
    const [a, streamId, b, fileId, c, index, ...more] = req.path;
    if (a !== "streams" || more.length) return undefined;
    if (!streamId) {
      if (req.method === "GET") return { status: 200, body: { streams: this.listStreams() } };
      if (req.method === "POST") return { status: 201, body: this.createStream(req.body as Parameters<StreamsService["createStream"]>[0]) };
      return undefined;
    }
    if (!b) {
      if (req.method === "GET") {
        const s = this.getStream(streamId);
        if (!s) throw new ApiError(404, "ResourceNotFound", `stream ${streamId} not found`);
        return { status: 200, body: s };
      }
      if (req.method === "DELETE") {
        if (!this.deleteStream(streamId)) throw new ApiError(404, "ResourceNotFound", `stream ${streamId} not found`);
        return { status: 200, body: { streamId, deleted: true } };
      }
      return undefined;
    }
    if (b === "files" && fileId !== undefined && c === "chunks" && index !== undefined && req.method === "PUT") {
      const body = req.body as { data?: unknown } | undefined;
      if (!body || typeof body.data !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(body.data)) throw new ApiError(400, "InvalidRequest", "body must be {data: base64}");
      if (!/^\d{1,3}$/.test(fileId) || !/^\d{1,4}$/.test(index)) throw new ApiError(400, "InvalidRequest", "file id and chunk index must be integers");
      return { status: 200, body: this.putChunk(streamId, Number(fileId), Number(index), Buffer.from(body.data, "base64")) };
    }
    return undefined;
  }
}

export const streamsService = (ctx: CloudContext) => new StreamsService(ctx);
