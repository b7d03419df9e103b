// Engine snapshots written down to the heap they hold (tools/sim/snapshot-heap.ts): a wake
// started from one computes exactly what it computes from the snapshot as xsnap wrote it,
// collecting and growing its heap as needed, and starts with far less memory allocated.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XsWorker } from "../../tools/sim/xsnap.ts";
import { fitSnapshotHeap, SNAPSHOT_CHUNK_HEADROOM } from "../../tools/sim/snapshot-heap.ts";

const noCommands = () => new Uint8Array(0);

// State the snapshot holds, and a delivery that allocates many times the headroom in
// chunks (strings, arrays) and slots (objects), keeping part of it alive, so a fitted
// engine must collect and grow where the unfitted one never does.
const PRELOAD = `
  globalThis.table = [];
  for (let i = 0; i < 2000; i++) table.push({ i, name: "item" + i });
  globalThis.handleCommand = (buffer) => {
    const n = new Uint8Array(buffer)[0];
    const kept = [];
    let sum = 0;
    for (let round = 0; round < n; round++) {
      const garbage = [];
      for (let i = 0; i < 5000; i++) garbage.push({ i, s: "x".repeat(i % 64) + i, a: [i, i + 1, i + 2] });
      for (const g of garbage) sum += g.s.length + g.a[2];
      kept.push(garbage[round]);
    }
    for (const t of table) sum += t.name.length;
    return new TextEncoder().encode(String(sum + kept.length)).buffer;
  };
`;

async function run(snapshot: string): Promise<{ result: string; compute: number; allocate: number; heap: number }> {
  const w = new XsWorker({ onCommand: noCommands, snapshot });
  try {
    const { reply, meters } = await w.deliver(Uint8Array.of(40));
    return { result: new TextDecoder().decode(reply), compute: meters.compute, allocate: meters.allocate, heap: meters.currentHeapCount };
  } finally {
    w.kill();
  }
}

test("a wake from a fitted snapshot computes exactly what it computes from xsnap's own, with far less heap allocated at start", async () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-snapshot-heap-"));
  try {
    const original = join(dir, "original.xss");
    const fitted = join(dir, "fitted.xss");
    const maker = new XsWorker({ onCommand: noCommands });
    try {
      await maker.evaluate(PRELOAD);
      await maker.writeSnapshot(original);
    } finally {
      maker.kill();
    }
    copyFileSync(original, fitted);
    assert.equal(fitSnapshotHeap(fitted), true, "xsnap's snapshot records a heap far larger than it holds");
    assert.equal(fitSnapshotHeap(fitted), false, "a fitted snapshot is left as it is");
    assert.equal(readFileSync(fitted).length, readFileSync(original).length, "only the recorded sizes change");

    const a = await run(original);
    const b = await run(fitted);
    const again = await run(fitted);
    assert.equal(b.result, a.result);
    assert.equal(b.compute, a.compute, "the compute meter counts bytecodes, not collections");
    assert.deepEqual(again, b, "deterministic run to run");
    // xsnap's machine: 32 MB of chunks and 256 Ki slots of 32 bytes; fitted: what it holds plus headroom.
    assert.ok(a.allocate > 32 * 2 ** 20, `unfitted start allocates xsnap's default heap: ${a.allocate}`);
    assert.ok(b.allocate < a.allocate / 4, `fitted start allocates far less: ${b.allocate} vs ${a.allocate}`);
    assert.ok(b.allocate > SNAPSHOT_CHUNK_HEADROOM, "and still grows as the delivery needs");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file not laid out as an xsnap snapshot is left untouched", () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-snapshot-heap-"));
  try {
    const path = join(dir, "not.xss");
    const bytes = new TextEncoder().encode("XS_Mnot a snapshot at all, just bytes");
    writeFileSync(path, bytes);
    assert.equal(fitSnapshotHeap(path), false);
    assert.deepEqual(new Uint8Array(readFileSync(path)), bytes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
