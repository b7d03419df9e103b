// The heap bench end to end on the hello app (test/sim/apps/hello): the probe sees the
// wake's deliveries, subtracts the preloaded heap, and its figures hang together.
import { test } from "node:test";
import assert from "node:assert/strict";
import { helloWake } from "../../bench/heap.bench.ts";

test("the heap probe measures a wake at its delivery boundaries, the preloaded heap left out", async () => {
  const h = await helloWake();
  assert.ok(h.deliveries >= 2, `boot and the sleep timer: ${h.deliveries} deliveries`);
  assert.ok(h.preloadedSlots > 0 && h.preloadedChunks > 0, "the engine's state before the wake is measured");
  assert.ok(h.peakLiveSlots >= h.liveAfterFirst && h.liveAfterFirst > 0, `peak ${h.peakLiveSlots}, after the first delivery ${h.liveAfterFirst}`);
  assert.ok(h.peakLiveChunks >= h.peakLiveChunksWithoutCode && h.peakLiveChunksWithoutCode > 0);
  // The app's own module objects are far fewer than the preloaded heap (boot script, emulations, compiled modules).
  assert.ok(h.peakLiveSlots < h.preloadedSlots);
});
