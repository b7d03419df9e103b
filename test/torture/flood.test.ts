// The battery-drain attack (seed 004's threat): while another thing floods the
// victim's subscribed topics (shadow delta, jobs notify, notify-next: all refused by
// the policy, as is a topic of nobody) at AWS IoT Core's per-connection quota of 100
// publishes a second, and the operator API pushes desired-state
// changes the cloud turns into real deltas several times a second, the device keeps
// each wake's radio time under its budget, loses no reading, and its projected
// battery life stays within 10% of the same seed's quiet run. The refused
// publishes are counted by the cloud (GET /telemetry/refused).
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatRun, runOne, TORTURE_SLEEP } from "../../tools/torture/run.ts";

test("flood of the device's topics: radio budget kept, no reading lost, battery life within 10%", { timeout: 400_000 }, async () => {
  // One after the other: the sim's virtual time follows real time while the device waits on a socket,
  // so a run beside it (the flooder, a second cloud) would slow the answers and bill the radio for it.
  // The same holds for a host loaded by other work: one stalled answer on a 2-core machine costs a wake
  // its whole budget. So a pair whose ratio misses the bound is run once more; a real drain misses twice.
  const attempts: string[] = [];
  for (let attempt = 0; attempt < 2; attempt++) {
    // Every uplink must succeed here: give a loaded host's answers time (see RunOptions.replyWaitMs).
    const quiet = await runOne({ seed: 4004, days: 0.15, faultRate: 0, replyWaitMs: 3000 });
    const flood = await runOne({ seed: 4004, days: 0.15, faultRate: 0, flood: true, replyWaitMs: 3000 });
    for (const r of [quiet, flood]) {
      const why = `${formatRun(r)}\n${r.failures.join("\n")}\n${r.context.join("\n")}`;
      assert.ok(r.ok, why);
      assert.equal(r.overBudget, 0, why);
      assert.ok(r.maxRadioMs <= TORTURE_SLEEP.radioBudgetMs + 1500, why);
      assert.equal(r.lost + r.evicted + r.ackedMissing + r.undeclared, 0, why);
      assert.equal(r.readings, r.issued, "every reading acknowledged is in the cloud, none missing");
    }
    // The flood happened and the cloud counted its refusals. How many it sends depends on the run's real
    // time, which the sim keeps short (about 100 in 2.7 s); the bursts still in its client or in the
    // broker when both stop are not counted (about half of them, measured), never more than were sent.
    assert.ok(flood.floodSent >= 20 && flood.refused >= 0.25 * flood.floodSent && flood.refused <= flood.floodSent, `refused publishes counted by the cloud: ${flood.refused} of ${flood.floodSent} sent`);
    // (Unthrottled, ~4000 a second, the flooder saturates the single-process local cloud: the victim's SUBSCRIBE
    // waits behind it and wakes run to their budget. The local broker has no per-connection quota: issue 13 report.)
    assert.equal(quiet.refused, 0);
    const ratio = flood.projectedYears / quiet.projectedYears;
    attempts.push(`flood ${flood.projectedYears.toFixed(2)} y vs quiet ${quiet.projectedYears.toFixed(2)} y (${(ratio * 100).toFixed(1)}%), radio ms per uplink ${JSON.stringify(flood.radioMs.map(Math.round))} vs ${JSON.stringify(quiet.radioMs.map(Math.round))}`);
    if (ratio >= 0.9) return;
  }
  assert.fail(`projected battery life under flood below 90% of the quiet run's, twice: ${attempts.join("; ")}`);
});
