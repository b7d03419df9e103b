// The heap bench reads live slots and chunks from an XS heap snapshot
// (bench/heap.bench.ts snapshotHeap). Checked here against the engine itself: the
// slot count against the engine's own meter after a full collection, and the
// functions' bytecode copies against functions made and strings made.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XsWorker } from "../../tools/sim/xsnap.ts";
import { snapshotHeap } from "../../bench/heap.bench.ts";

test("a heap snapshot gives the live slots, and tells functions' bytecode copies from other chunks", async () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-snapheap-"));
  const w = new XsWorker({ onCommand: () => new Uint8Array(0) });
  let n = 0;
  const measure = async () => {
    const live = (await w.evaluate("gc(); 0")).meters.currentHeapCount;
    const path = join(dir, `${n++}.xss`);
    await w.writeSnapshot(path);
    return { live, ...snapshotHeap(readFileSync(path)) };
  };
  try {
    const base = await measure();
    // Slot 0 and the stack are not in the snapshot's heap: a handful apart.
    assert.ok(Math.abs(base.slots - base.live) < 16, `snapshot ${base.slots} slots, engine ${base.live}`);

    await w.evaluate("globalThis.fns = []; for (let i = 0; i < 1000; i++) fns.push(function () { return i * 2 + 1; });");
    const fns = await measure();
    assert.ok(Math.abs(fns.slots - fns.live) < 16);
    // Each closure is a function with its own copy of its bytecode (a chunk: header and code).
    const perFunction = (fns.codeChunks - base.codeChunks) / 1000;
    assert.ok(perFunction >= 16 + 4 && perFunction < 200, `${perFunction} code bytes per function`);

    await w.evaluate("globalThis.strs = []; for (let i = 0; i < 1000; i++) strs.push('s'.repeat(100) + i);");
    const strs = await measure();
    assert.equal(strs.codeChunks, fns.codeChunks, "strings are no bytecode");
    assert.ok(strs.chunks - fns.chunks >= 1000 * 100, "the strings' chunks are counted");
  } finally {
    w.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
