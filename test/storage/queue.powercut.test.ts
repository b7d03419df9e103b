// The flash queue under a power cut at EVERY flash write (SQLite's crash-test
// method): a deterministic workload of appends, acknowledgements, evictions and
// recoveries (reopen) is run once without faults to learn how many flash
// operations it makes; then, for each operation k, it is run again with the power
// cut just before operation k (NVS writes and erases are atomic on the chip and
// in the sim: an operation happens entirely or not at all), the queue is
// recovered from what the store holds, and the recovered queue must be exactly
// the queue before or after the interrupted step (each step is atomic), with no
// records reported corrupted and no chunk left behind that the queue does not use.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FlashQueue, type ChunkStore } from "../../sdk/storage/queue.ts";
import { crc32 } from "../../sdk/storage/crc32.ts";

const SIZE = 8;
const OPTIONS = { recordSize: SIZE, perChunk: 3, maxChunks: 3 };

class Cut extends Error {}

/** A key-value store that loses power before its k-th mutating operation. */
class CuttableStore implements ChunkStore {
  m = new Map<string, Uint8Array>();
  ops = 0;
  cutAt = Infinity;
  private op(): void {
    if (this.ops === this.cutAt) throw new Cut(`power cut before flash operation ${this.ops}`);
    this.ops++;
  }
  read(k: string) {
    const v = this.m.get(k);
    return v ? v.slice() : undefined;
  }
  write(k: string, b: Uint8Array) {
    this.op();
    this.m.set(k, b.slice());
  }
  remove(k: string) {
    this.op();
    this.m.delete(k);
  }
}

// Record bytes are derived from the sequence number by a rule of this test (not by the queue).
function records(from: number, n: number): Uint8Array {
  const out = new Uint8Array(n * SIZE);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    dv.setUint32(i * SIZE, from + i, true);
    dv.setUint32(i * SIZE + 4, Math.imul(from + i, 2654435761) >>> 0, true);
  }
  return out;
}

type Step =
  | { op: "append"; from: number; n: number }
  | { op: "ack"; through: number }
  | { op: "note"; seq: number }
  | { op: "declare" }
  | { op: "reopen" }
  | { op: "clear" };

// A workload that fills, evicts (capacity 9), acknowledges part of a chunk, whole
// chunks, the whole last chunk, everything, and reopens between steps.
function workload(): Step[] {
  const steps: Step[] = [];
  let next = 1;
  const add = (n: number) => {
    steps.push({ op: "append", from: next, n });
    next += n;
  };
  add(2); add(1); steps.push({ op: "ack", through: 1 }); add(4); steps.push({ op: "reopen" });
  steps.push({ op: "ack", through: 3 }); // the whole first chunk
  add(5); add(3); // past capacity: evicts the oldest chunks
  steps.push({ op: "reopen" });
  steps.push({ op: "ack", through: next - 2 });
  steps.push({ op: "ack", through: next - 1 }); // every reading in the last chunk acknowledged
  steps.push({ op: "note", seq: next + 3 }); // four numbers issued that never reach flash
  next += 4;
  steps.push({ op: "reopen" });
  steps.push({ op: "declare" }); // power-on: they are declared lost
  add(3); // exactly one full chunk
  steps.push({ op: "ack", through: next - 1 }); // all acknowledged: the last (full) chunk goes
  add(1); add(7); add(2); steps.push({ op: "reopen" });
  steps.push({ op: "ack", through: next - 4 });
  add(9); // a whole queue's worth at once
  steps.push({ op: "clear" });
  add(2); steps.push({ op: "ack", through: next - 1 }); steps.push({ op: "reopen" });
  return steps;
}

interface Snapshot {
  records: string;
  count: number;
  evicted: number;
  corrupted: number;
  lastSeq: number;
  appendedSeq: number;
  lost: number;
}
function snapshot(q: FlashQueue): Snapshot {
  const s = q.stats();
  return {
    records: Buffer.from(q.peek(1e6)).toString("hex"), count: s.count, evicted: s.evicted, corrupted: s.corrupted,
    lastSeq: s.lastSeq, appendedSeq: s.appendedSeq, lost: s.lost,
  };
}

function apply(q: FlashQueue, store: ChunkStore, step: Step): FlashQueue {
  switch (step.op) {
    case "append":
      q.append(records(step.from, step.n));
      return q;
    case "ack":
      q.ackThrough(step.through);
      return q;
    case "note":
      q.noteSeq(step.seq);
      return q;
    case "clear":
      q.clear();
      return q;
    case "declare":
      q.declareUnspilled();
      return q;
    case "reopen":
      return new FlashQueue(store, OPTIONS);
  }
}

/** Chunks on flash beyond the most the recovered queue can use (a leak of flash): n records span at most ceil(n / perChunk) + 1 chunks. */
function strayChunks(store: CuttableStore, q: FlashQueue): number {
  const chunks = [...store.m.keys()].filter((k) => k !== "m").length;
  const most = q.count === 0 ? 0 : Math.ceil(q.count / OPTIONS.perChunk) + 1;
  return Math.max(0, chunks - most);
}

test("queue: a power cut at every flash write leaves the queue before or after the step, never corrupted", () => {
  const steps = workload();
  // Reference run: the states between steps, and how many flash operations there are.
  const ref = new CuttableStore();
  let q = new FlashQueue(ref, OPTIONS);
  const states: Snapshot[] = [snapshot(q)];
  const opsAfter: number[] = [];
  for (const step of steps) {
    q = apply(q, ref, step);
    states.push(snapshot(q));
    opsAfter.push(ref.ops);
  }
  assert.ok(states.some((s) => s.evicted > 0), "the workload evicts");
  assert.equal(states[states.length - 1].lost, 4, "the four numbers never appended are declared lost, once");
  assert.ok(ref.ops > 40, `${ref.ops} flash operations`);

  const failures: string[] = [];
  for (let k = 0; k < ref.ops; k++) {
    const store = new CuttableStore();
    store.cutAt = k;
    let queue = new FlashQueue(store, OPTIONS);
    let i = 0;
    try {
      for (; i < steps.length; i++) queue = apply(queue, store, steps[i]);
      failures.push(`cut ${k}: never happened`);
      continue;
    } catch (e) {
      if (!(e instanceof Cut)) throw e;
    }
    // Power back: recover (a recovery may itself write; no cut this time).
    store.cutAt = Infinity;
    const recovered = new FlashQueue(store, OPTIONS);
    const got = snapshot(recovered);
    const before = states[i];
    const after = states[i + 1];
    const same = (a: Snapshot) => JSON.stringify(a) === JSON.stringify(got);
    if (!same(before) && !same(after))
      failures.push(`cut before op ${k} (in step ${i} ${JSON.stringify(steps[i])}): recovered ${JSON.stringify(got)}; expected ${JSON.stringify(before)} or ${JSON.stringify(after)}`);
    const stray = strayChunks(store, recovered);
    if (stray) failures.push(`cut before op ${k} (step ${i} ${steps[i].op}): ${stray} chunk(s) left on flash that the recovered queue does not use`);
    // And the recovered queue keeps working: finish the workload from here.
    let q2 = recovered;
    try {
      for (let j = i + 1; j < steps.length; j++) q2 = apply(q2, store, steps[j]);
      if (q2.stats().corrupted !== 0) failures.push(`cut before op ${k}: corruption counted later`);
    } catch (e) {
      failures.push(`cut before op ${k}: the recovered queue failed: ${e}`);
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${ref.ops} cut points failed`);
});

test("queue: a cut during recovery itself is recovered too", () => {
  const store = new CuttableStore();
  const q = new FlashQueue(store, OPTIONS);
  q.append(records(1, 8));
  q.ackThrough(6);
  const want = snapshot(new FlashQueue(store, OPTIONS));
  for (let k = 0; k < 8; k++) {
    store.cutAt = store.ops + k;
    try {
      new FlashQueue(store, OPTIONS);
    } catch (e) {
      if (!(e instanceof Cut)) throw e;
    }
    store.cutAt = Infinity;
    assert.deepEqual(snapshot(new FlashQueue(store, OPTIONS)), want);
  }
});

test("queue: declareUnspilled counts exactly the numbers issued and never appended, once", () => {
  const store = new CuttableStore();
  const q = new FlashQueue(store, OPTIONS);
  q.append(records(1, 5));
  q.noteSeq(8); // 6, 7, 8 issued, still in retained memory
  assert.equal(new FlashQueue(store, OPTIONS).declareUnspilled(), 3);
  const again = new FlashQueue(store, OPTIONS);
  assert.equal(again.declareUnspilled(), 0, "a second power-on declares nothing more");
  assert.equal(again.stats().lost, 3);
  again.append(records(9, 2));
  again.noteSeq(10);
  assert.equal(again.declareUnspilled(), 0, "everything issued reached flash");
  // A meta of the first layout (40 bytes, no appendedSeq/lost) still opens, nothing declared.
  const m = store.m.get("m")!;
  const v1 = new Uint8Array(40);
  v1.set(m.subarray(0, 36));
  const crc = crc32(v1.subarray(0, 36));
  new DataView(v1.buffer).setUint32(36, crc, true);
  store.m.set("m", v1);
  const old = new FlashQueue(store, OPTIONS);
  assert.equal(old.count, 7);
  assert.equal(old.stats().lost, 0);
  assert.equal(old.declareUnspilled(), 0);
});

test("queue: onEvict reports the evicted numbers after the meta counts them and before their chunk is deleted", () => {
  const store = new CuttableStore();
  const seen: { n: number; first: number; last: number; chunks: number; evicted: number }[] = [];
  // The evicted counter as stored (meta: u32 fields, the 7th is evicted; see the layout in queue.ts).
  const metaEvicted = () => new DataView(store.m.get("m")!.buffer).getUint32(24, true);
  const q: FlashQueue = new FlashQueue(store, {
    ...OPTIONS,
    onEvict: (n, first, last) => seen.push({ n, first, last, chunks: [...store.m.keys()].length - 1, evicted: metaEvicted() }),
  });
  q.append(records(1, 9)); // full: three chunks
  q.append(records(10, 1)); // evicts 1-3
  assert.deepEqual(seen, [{ n: 3, first: 1, last: 3, chunks: 4, evicted: 3 }]);
  assert.equal([...store.m.keys()].length - 1, 3, "then the chunk goes");
});
