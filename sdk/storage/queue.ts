// Store-and-forward queue: fixed-size records (sequence number first, u32 LE)
// that have not been acknowledged by the cloud, kept on flash in chunks.
//
// Layout over a ChunkStore (key-value: NVS on the ESP32):
//   "m"      meta: magic, head chunk, head offset, tail chunk, tail count,
//            count, evicted, corrupted, lastSeq, appendedSeq, lost, CRC-32
//            (a 40-byte meta of the first layout, without appendedSeq and lost, is read too)
//   "c<n>"   chunk n: CRC-32 then up to perChunk records
// Writes go chunk first, meta last, deletions after the meta: a power cut
// between them leaves the old meta, which ignores the half-appended records
// (the append in progress is lost, nothing earlier) and never points at a
// deleted chunk. Chunks a cut left behind outside [head, tail] are removed at
// the next load (two reads when there are none). A chunk whose CRC fails is
// dropped and its records counted as `corrupted`: that is real flash damage,
// never the result of a power cut (test/storage/queue.powercut.test.ts cuts
// the power at every flash write of a workload and checks this).
//
// Bounded: at most `maxChunks` chunks; appending past capacity evicts the
// oldest records first, counted in `evicted` (persisted, reported upstream).
//
// Exact loss accounting: `lastSeq` is the highest sequence number the app
// issued (noteSeq, written at each wake), `appendedSeq` the highest that reached
// this queue. After a power loss, the numbers in (appendedSeq, lastSeq] were
// issued and never reached flash (they were in retained memory, or in RAM);
// declareUnspilled() adds exactly that many to `lost` and moves appendedSeq up,
// in one meta write, so a cut can neither skip nor double-count them.
import { crc32 } from "./crc32";

export interface ChunkStore {
  read(key: string): Uint8Array | undefined;
  write(key: string, bytes: Uint8Array): void;
  remove(key: string): void;
}

export interface QueueOptions {
  /** Bytes per record (>= 4: the record starts with its u32 sequence number). */
  recordSize: number;
  /** Records per chunk (one flash write per append touches one or two chunks). */
  perChunk?: number;
  /** Chunks kept at most: capacity = perChunk * maxChunks records. */
  maxChunks?: number;
  /** Called when an append evicted records, once the meta that counts them is written and before the chunks are deleted (a power cut can follow). */
  onEvict?(count: number, firstSeq: number, lastSeq: number): void;
}

export interface QueueStats {
  count: number;
  capacity: number;
  evicted: number;
  corrupted: number;
  lastSeq: number;
  /** Highest sequence number ever appended (<= lastSeq). */
  appendedSeq: number;
  /** Sequence numbers issued that never reached flash (declared by declareUnspilled). */
  lost: number;
}

const MAGIC = 0x51534958; // "XISQ"
const META_V1_BYTES = 40;
const META_BYTES = 48;

export class QueueError extends Error {}

export class FlashQueue {
  readonly recordSize: number;
  readonly perChunk: number;
  readonly maxChunks: number;
  private head = 0; // oldest chunk index
  private headOffset = 0; // records consumed in the head chunk
  private tail = 0; // chunk being appended to
  private tailCount = 0; // records in the tail chunk
  private total = 0;
  private evictedCount = 0;
  private corruptedCount = 0;
  private last = 0;
  private appended = 0;
  private lostCount = 0;
  private cache: { index: number; bytes: Uint8Array } | undefined;
  /** Sequence numbers the last append evicted, first and last ([0, 0]: none). */
  lastEvicted: [number, number] = [0, 0];
  /** Chunks to delete once the meta that no longer uses them is written. */
  private garbage: number[] = [];

  private readonly onEvict: QueueOptions["onEvict"];

  constructor(private readonly store: ChunkStore, options: QueueOptions) {
    const perChunk = options.perChunk ?? 32;
    const maxChunks = options.maxChunks ?? 64;
    if (!(Number.isInteger(options.recordSize) && options.recordSize >= 4 && options.recordSize <= 256)) throw new QueueError("recordSize must be 4-256");
    if (!(Number.isInteger(perChunk) && perChunk >= 1 && perChunk * options.recordSize + 4 <= 4000)) throw new QueueError("perChunk too large for a 4000-byte chunk");
    if (!(Number.isInteger(maxChunks) && maxChunks >= 2 && maxChunks <= 4096)) throw new QueueError("maxChunks must be 2-4096");
    this.recordSize = options.recordSize;
    this.perChunk = perChunk;
    this.maxChunks = maxChunks;
    this.onEvict = options.onEvict;
    this.load();
  }

  get count(): number {
    return this.total;
  }
  get capacity(): number {
    return this.perChunk * this.maxChunks; // most held; an append past it evicts the oldest chunk
  }
  stats(): QueueStats {
    return {
      count: this.total, capacity: this.capacity, evicted: this.evictedCount, corrupted: this.corruptedCount,
      lastSeq: this.last, appendedSeq: this.appended, lost: this.lostCount,
    };
  }

  /** Appends records (each recordSize bytes, concatenated), evicting the oldest past capacity. Returns how many were evicted. */
  append(records: Uint8Array): number {
    const size = this.recordSize;
    if (records.length % size !== 0) throw new QueueError(`append: ${records.length} bytes is not a whole number of ${size}-byte records`);
    const n = records.length / size;
    if (n === 0) return 0;
    let evicted = 0;
    this.lastEvicted = [0, 0];
    let chunk = this.chunkOrBlank(this.tail);
    for (let i = 0; i < n; i++) {
      if (this.tailCount === this.perChunk) {
        this.writeChunk(this.tail, chunk);
        this.tail++;
        this.tailCount = 0;
        chunk = new Uint8Array(4 + this.perChunk * size);
        this.cache = { index: this.tail, bytes: chunk };
        if (this.tail - this.head >= this.maxChunks) {
          // Oldest-first eviction: the whole head chunk goes.
          const dropped = this.headChunkCount();
          this.noteEvicted(this.head);
          evicted += dropped;
          this.total -= dropped;
          this.garbage.push(this.head);
          this.head++;
          this.headOffset = 0;
        }
      }
      chunk.set(records.subarray(i * size, (i + 1) * size), 4 + this.tailCount * size);
      this.tailCount++;
      this.total++;
      this.last = Math.max(this.last, seqOf(records, i * size));
      this.appended = Math.max(this.appended, seqOf(records, i * size));
    }
    this.writeChunk(this.tail, chunk);
    this.evictedCount += evicted;
    this.saveMeta();
    if (evicted) this.onEvict?.(evicted, this.lastEvicted[0], this.lastEvicted[1]);
    this.collect();
    return evicted;
  }

  /** Up to `max` of the oldest records, concatenated. */
  peek(max: number): Uint8Array {
    const size = this.recordSize;
    const n = Math.max(0, Math.min(max, this.total));
    const out = new Uint8Array(n * size);
    let got = 0;
    let index = this.head;
    let offset = this.headOffset;
    while (got < n && index <= this.tail) {
      const chunk = this.chunkOrBlank(index);
      const inChunk = index === this.tail ? this.tailCount : this.perChunk;
      while (offset < inChunk && got < n) {
        const at = 4 + offset * size;
        offset++;
        if (seqOf(chunk, at) === 0) continue; // lost to corruption
        out.set(chunk.subarray(at, at + size), got * size);
        got++;
      }
      index++;
      offset = 0;
    }
    return got === n ? out : out.subarray(0, got * size);
  }

  /** Drops the oldest records whose sequence number is <= seq (acknowledged). Returns how many. */
  ackThrough(seq: number): number {
    let dropped = 0;
    while (this.total > 0) {
      const chunk = this.chunkOrBlank(this.head);
      if (seqOf(chunk, 4 + this.headOffset * this.recordSize) > seq) break;
      this.headOffset++;
      this.total--;
      dropped++;
      const inChunk = this.head === this.tail ? this.tailCount : this.perChunk;
      if (this.headOffset >= inChunk) {
        this.garbage.push(this.head);
        if (this.head === this.tail) {
          this.headOffset = 0;
          this.tailCount = 0;
          this.head = ++this.tail;
          this.cache = undefined;
        } else {
          this.head++;
          this.headOffset = 0;
        }
      }
    }
    if (dropped) {
      this.saveMeta();
      this.collect();
    }
    return dropped;
  }

  /** Empties the queue (keeps lastSeq and the counters). */
  clear(): void {
    for (let i = this.head; i <= this.tail; i++) this.garbage.push(i);
    this.head = this.tail = this.tail + 1;
    this.headOffset = this.tailCount = this.total = 0;
    this.cache = undefined;
    this.saveMeta();
    this.collect();
  }

  /** Deletes the chunks the meta just written no longer uses (after it: a cut leaves them for the next load, never a meta pointing at nothing). */
  private collect(): void {
    const g = this.garbage;
    this.garbage = [];
    for (const index of g) this.store.remove(this.key(index));
  }

  /** Removes chunks a power cut left outside [head, tail]: below head (deletions not done) and past the tail (an append whose meta was never written). */
  private sweep(): void {
    for (let i = this.head - 1, n = 0; i >= 0 && n <= this.maxChunks && this.store.read(this.key(i)) !== undefined; i--, n++) this.store.remove(this.key(i));
    for (let i = this.tailCount === 0 ? this.tail : this.tail + 1, n = 0; n <= this.maxChunks && this.store.read(this.key(i)) !== undefined; i++, n++)
      this.store.remove(this.key(i));
  }

  /** Records the highest sequence number issued even when nothing is queued (power-on recovery reads it back). */
  noteSeq(seq: number): void {
    if (seq > this.last) {
      this.last = seq;
      this.saveMeta();
    }
  }

  private noteEvicted(index: number): void {
    // Read without side effects (a damaged chunk is dealt with where it is read for use).
    const chunk = this.cache && this.cache.index === index ? this.cache.bytes : this.store.read(this.key(index));
    if (!chunk || chunk.length !== 4 + this.perChunk * this.recordSize) return;
    const used = index === this.tail ? this.tailCount : this.perChunk;
    for (let i = index === this.head ? this.headOffset : 0; i < used; i++) {
      const seq = seqOf(chunk, 4 + i * this.recordSize);
      if (seq === 0) continue;
      if (this.lastEvicted[0] === 0) this.lastEvicted[0] = seq;
      this.lastEvicted[1] = seq;
    }
  }

  /**
   * At power-on, before anything is appended: the sequence numbers issued
   * (noteSeq) but never appended were lost with retained memory. Counts them in
   * `lost` (persisted with the marker in one write). Returns how many.
   */
  declareUnspilled(): number {
    const n = this.last - this.appended;
    if (n <= 0) return 0;
    this.lostCount += n;
    this.appended = this.last;
    this.saveMeta();
    return n;
  }

  private chunkOrBlank(index: number): Uint8Array {
    try {
      return this.chunk(index);
    } catch (e) {
      if (!(e instanceof ChunkLost)) throw e;
      this.dropChunk(index);
      return this.cache!.bytes;
    }
  }

  private headChunkCount(): number {
    return (this.head === this.tail ? this.tailCount : this.perChunk) - this.headOffset;
  }

  private key(index: number): string {
    return "c" + (index >>> 0).toString(36);
  }

  private chunk(index: number): Uint8Array {
    if (this.cache && this.cache.index === index) return this.cache.bytes;
    const bytes = new Uint8Array(4 + this.perChunk * this.recordSize);
    const stored = this.store.read(this.key(index));
    if (stored && stored.length === bytes.length && crc32(stored, 4) === readU32(stored, 0)) bytes.set(stored);
    else if (index <= this.tail && (index !== this.tail || this.tailCount > 0)) {
      // Missing or corrupt: its records are gone. Count them and skip the chunk.
      throw new ChunkLost(index);
    }
    this.cache = { index, bytes };
    return bytes;
  }

  private writeChunk(index: number, bytes: Uint8Array): void {
    writeU32(bytes, 0, crc32(bytes, 4));
    this.store.write(this.key(index), bytes);
  }

  private saveMeta(): void {
    const m = new Uint8Array(META_BYTES);
    const v = [MAGIC, this.head, this.headOffset, this.tail, this.tailCount, this.total, this.evictedCount, this.corruptedCount, this.last, this.appended, this.lostCount];
    for (let i = 0; i < v.length; i++) writeU32(m, i * 4, v[i]);
    writeU32(m, META_BYTES - 4, crc32(m, 0, META_BYTES - 4));
    this.store.write("m", m);
  }

  private load(): void {
    const m = this.store.read("m");
    const size = m ? m.length : 0;
    if (!m || (size !== META_BYTES && size !== META_V1_BYTES) || readU32(m, 0) !== MAGIC || crc32(m, 0, size - 4) !== readU32(m, size - 4)) return this.sweep(); // empty queue
    this.head = readU32(m, 4);
    this.headOffset = readU32(m, 8);
    this.tail = readU32(m, 12);
    this.tailCount = readU32(m, 16);
    this.total = readU32(m, 20);
    this.evictedCount = readU32(m, 24);
    this.corruptedCount = readU32(m, 28);
    this.last = readU32(m, 32);
    this.appended = size === META_BYTES ? readU32(m, 36) : this.last;
    this.lostCount = size === META_BYTES ? readU32(m, 40) : 0;
    const sane =
      this.head <= this.tail && this.tail - this.head < this.maxChunks && this.tailCount <= this.perChunk && this.headOffset <= this.perChunk &&
      this.total === (this.tail - this.head) * this.perChunk + this.tailCount - this.headOffset;
    if (!sane) {
      this.head = this.tail = this.headOffset = this.tailCount = this.total = 0;
      return;
    }
    this.sweep();
    // Verify every chunk once; drop the ones that fail (counted).
    for (let i = this.head; i <= this.tail; i++) {
      try {
        this.cache = undefined;
        this.chunk(i);
      } catch (e) {
        if (!(e instanceof ChunkLost)) throw e;
        this.dropChunk(i);
      }
    }
    this.cache = undefined;
  }

  /** A missing or corrupt chunk is replaced by a zero-filled one (sequence 0: skipped by peek, dropped by ackThrough); its records are counted as corrupted. */
  private dropChunk(index: number): void {
    const first = index === this.head ? this.headOffset : 0;
    const used = index === this.tail ? this.tailCount : this.perChunk;
    this.corruptedCount += Math.max(0, used - first);
    const blank = new Uint8Array(4 + this.perChunk * this.recordSize);
    this.writeChunk(index, blank);
    this.cache = { index, bytes: blank };
    this.saveMeta();
  }
}

class ChunkLost extends Error {
  constructor(readonly index: number) {
    super(`queue chunk ${index} is missing or corrupt`);
  }
}

export function seqOf(bytes: Uint8Array, at: number): number {
  return readU32(bytes, at);
}
export function readU32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}
export function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}
