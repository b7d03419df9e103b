// Sans-I/O state machine of an MQTT file-stream download (AWS IoT streams, CBOR).
//
// Requests ask for a window of blocks at once: {c, f, l, o, n, b} where block
// k of the window is block o + k, and b is a bitmap of the blocks still wanted
// (bit k in byte k >> 3, least significant bit first). Blocks {f, i, l, p} may
// arrive in any order; each is checked (file id, block id in range, exact
// length) before it is handed out for writing. A window that is not whole
// when its timer fires is asked again for what is missing only.
//
// `have` (one bit per block) is what the caller persists: after a power cut
// the download resumes from it, so at most the window in flight is fetched again.
import { encode } from "../cbor/index";

export interface DownloadOptions {
  fileId: number;
  fileSize: number;
  /** 256 B to 128 KB (the stream service's bounds). */
  blockSize: number;
  /** Blocks per request (1 is FreeRTOS's default behaviour). */
  window: number;
  /** Requests for one window before the stream is considered dead. */
  maxTries: number;
  /** Blocks already in storage, from a previous run. */
  have?: Uint8Array;
  clientToken?: string;
}

export interface StreamRequest {
  payload: Uint8Array;
  o: number;
  n: number;
  /** Number of blocks actually wanted in the window. */
  wanted: number;
}

export type BlockEvent =
  | { kind: "write"; block: number; offset: number; bytes: Uint8Array; windowDone: boolean; done: boolean }
  | { kind: "duplicate"; block: number }
  | { kind: "error"; reason: string };

export const MIN_BLOCK = 256;
export const MAX_BLOCK = 128 * 1024;

export class StreamDownload {
  readonly blocks: number;
  readonly have: Uint8Array;
  private count = 0;
  private windowStart = -1;
  private windowEnd = -1;
  private tries = 0;
  /** Blocks fetched (bytes), including ones fetched again after a cut or a timeout. */
  bytesReceived = 0;

  constructor(private readonly o: DownloadOptions) {
    if (!(o.blockSize >= MIN_BLOCK && o.blockSize <= MAX_BLOCK && Number.isInteger(o.blockSize))) throw new RangeError(`block size must be ${MIN_BLOCK} to ${MAX_BLOCK}`);
    if (!(o.window >= 1 && o.window <= 256)) throw new RangeError("window must be 1 to 256 blocks");
    this.blocks = Math.ceil(o.fileSize / o.blockSize);
    this.have = new Uint8Array((this.blocks + 7) >> 3);
    if (o.have && o.have.length === this.have.length) this.have.set(o.have);
    for (let i = 0; i < this.blocks; i++) if (this.has(i)) this.count++;
  }

  has(i: number): boolean {
    return (this.have[i >> 3] & (1 << (i & 7))) !== 0;
  }
  get received(): number {
    return this.count;
  }
  get done(): boolean {
    return this.count === this.blocks;
  }
  blockLength(i: number): number {
    return i === this.blocks - 1 ? this.o.fileSize - i * this.o.blockSize : this.o.blockSize;
  }
  private windowComplete(): boolean {
    for (let i = this.windowStart; i < this.windowEnd; i++) if (!this.has(i)) return false;
    return true;
  }

  /**
   * The next request: a new window at the first missing block, or the current
   * window again (missing blocks only) when `retry`. Undefined when done, or
   * when the window has been asked maxTries times (the stream is dead).
   */
  request(retry = false): StreamRequest | undefined {
    if (this.done) return undefined;
    if (retry && this.windowStart >= 0 && !this.windowComplete()) {
      if (this.tries >= this.o.maxTries) return undefined;
    } else {
      let m = 0;
      while (this.has(m)) m++;
      this.windowStart = m;
      this.windowEnd = Math.min(this.blocks, m + this.o.window);
      this.tries = 0;
    }
    this.tries++;
    const n = this.windowEnd - this.windowStart;
    const b = new Uint8Array((n + 7) >> 3);
    let wanted = 0;
    for (let k = 0; k < n; k++)
      if (!this.has(this.windowStart + k)) {
        b[k >> 3] |= 1 << (k & 7);
        wanted++;
      }
    const req: Record<string, unknown> = { f: this.o.fileId, l: this.o.blockSize, o: this.windowStart, n };
    if (this.o.clientToken) req.c = this.o.clientToken;
    req.b = b;
    return { payload: encode(req), o: this.windowStart, n, wanted };
  }

  get triesOfWindow(): number {
    return this.tries;
  }

  /** A decoded data/cbor message. */
  onBlock(msg: unknown): BlockEvent {
    if (typeof msg !== "object" || msg === null || Array.isArray(msg)) return { kind: "error", reason: "stream block is not a CBOR map" };
    const m = msg as Record<string, unknown>;
    const { f, i, l, p } = m;
    if (f !== this.o.fileId) return { kind: "error", reason: `stream block for file id ${String(f)}, expected ${this.o.fileId}` };
    if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= this.blocks)
      return { kind: "error", reason: `stream block id ${String(i)} out of range (0..${this.blocks - 1})` };
    if (!(p instanceof Uint8Array)) return { kind: "error", reason: `stream block ${i} has no byte-string payload` };
    const want = this.blockLength(i);
    if (l !== p.length || p.length !== want) return { kind: "error", reason: `stream block ${i} has ${p.length} bytes (l=${String(l)}), expected ${want}` };
    this.bytesReceived += p.length;
    if (this.has(i)) return { kind: "duplicate", block: i };
    this.have[i >> 3] |= 1 << (i & 7);
    this.count++;
    const inWindow = i >= this.windowStart && i < this.windowEnd;
    return { kind: "write", block: i, offset: i * this.o.blockSize, bytes: p, windowDone: this.done || (inWindow && this.windowComplete()), done: this.done };
  }
}
