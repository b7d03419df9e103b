// A few short torture runs (tools/torture/run.ts): the reference firmware on the
// virtual ESP32 against the local cloud in a child process, with every fault kind
// (the schedule takes each kind once before drawing at random), then a healthy
// network until the queue drains, and the invariants checked. `npm run torture`
// runs many more; the README gives the figures of a large run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FAULT_KINDS, faultSchedule, formatRun, runOne } from "../../tools/torture/run.ts";

test("fault schedule: a function of the seed, every kind in a run of at least as many faults", () => {
  const a = faultSchedule(7, 1, 14);
  assert.deepEqual(faultSchedule(7, 1, 14), a, "same seed, same schedule");
  assert.notDeepEqual(faultSchedule(8, 1, 14), a);
  assert.deepEqual(new Set(a.map((f) => f.kind)), new Set(FAULT_KINDS));
  assert.ok(a.every((f, i) => i === 0 || a[i - 1].at <= f.at));
});

test("torture: short seeded runs with every fault kind keep every invariant", { timeout: 400_000 }, async () => {
  const runs = await Promise.all([101, 102].map((seed) => runOne({ seed, days: 0.15, faultRate: 80 })));
  for (const r of runs) {
    const why = `${formatRun(r)}\n${r.failures.join("\n")}\n${r.context.join("\n")}`;
    assert.ok(r.ok, why);
    assert.equal(r.ackedMissing, 0, why);
    assert.equal(r.undeclared, 0, why);
    assert.equal(r.bricked + r.panics + r.overBudget + r.cloudErrors + r.unhandled, 0, why);
    assert.ok(r.uplinks > 0 && r.readings > 0, why);
  }
  const kinds = new Set(runs.flatMap((r) => Object.keys(r.faults)));
  assert.deepEqual(kinds, new Set(FAULT_KINDS), "every fault kind was injected");
});
