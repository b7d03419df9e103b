// npm run torture -- --runs N --seed S --days D [--jobs J] [--rate F] [--keep]
// Seeded torture runs of the reference firmware against the local cloud (run.ts):
// one line per run, then a summary; a failing run prints its seed, the events
// around the failure and the command that replays it. Exit status 1 if any run failed.
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { FAULT_KINDS, formatRun, runOne, type RunResult } from "./run.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    days: { type: "string", default: "1" },
    jobs: { type: "string" },
    rate: { type: "string" },
    keep: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log("usage: npm run torture -- [--runs N] [--seed S] [--days D] [--jobs J] [--rate faults-per-day] [--keep]\n" +
    "Runs N seeded runs (seeds S, S+1, ...), each D virtual days of faults then a healthy network until the queue drains.");
  process.exit(0);
}
const num = (name: string, v: string | undefined, lo: number, hi: number) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < lo || n > hi) {
    console.error(`--${name} must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};
const runs = num("runs", values.runs, 1, 100000);
const seed = num("seed", values.seed, 0, 2 ** 31);
const days = num("days", values.days, 0.05, 365);
const jobs = num("jobs", values.jobs ?? String(Math.max(1, Math.min(2, cpus().length))), 1, 16);
const rate = values.rate === undefined ? undefined : num("rate", values.rate, 0, 1000);

let unhandled = 0;
process.on("unhandledRejection", (e) => {
  unhandled++;
  console.error(`unhandled rejection in the suite: ${(e as Error)?.stack ?? e}`);
});

const started = performance.now();
const results: RunResult[] = [];
let next = 0;
async function worker() {
  while (next < runs) {
    const s = seed + next++;
    const r = await runOne({ seed: s, days, faultRate: rate, keep: values.keep });
    results.push(r);
    console.log(formatRun(r));
    if (!r.ok) {
      console.log(`  seed ${s} FAILED:`);
      for (const f of r.failures.slice(0, 10)) console.log(`    ${f.split("\n")[0]}`);
      console.log("  events around the failure (virtual time since start):");
      for (const line of r.context) console.log(`    ${line.slice(0, 300)}`);
      console.log(`  replay: npm run torture -- --runs 1 --seed ${s} --days ${days}${rate !== undefined ? ` --rate ${rate}` : ""} --keep`);
      if (r.dir) console.log(`  files (device flash, cloud.db): ${r.dir}`);
    }
  }
}
let interrupted = false;
process.once("SIGINT", () => {
  // Ctrl-C: no new runs; the summary covers the runs that finished.
  interrupted = true;
  next = runs;
  summary();
  process.exit(1);
});
await Promise.all(Array.from({ length: jobs }, () => worker()));
summary();
process.exit(results.every((r) => r.ok) && unhandled === 0 ? 0 : 1);

function summary() {
  const sum = (f: (r: RunResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const faults: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
  const failed = results.filter((r) => !r.ok);
  console.log("");
  console.log(`torture: ${results.length} runs${interrupted ? " (interrupted)" : ""} (seeds ${seed}-${seed + runs - 1}), ${(results.length * days).toFixed(1)} virtual days of faults, ${((performance.now() - started) / 1000).toFixed(0)} s wall, ${jobs} at a time`);
  console.log(`  faults: ${FAULT_KINDS.map((k) => `${k} ${faults[k] ?? 0}`).join(", ")}`);
  console.log(`  wakes ${sum((r) => r.wakes)}, uplinks ${sum((r) => r.uplinks)}, readings in the cloud ${sum((r) => r.readings)}, duplicates dropped ${sum((r) => r.duplicates)}`);
  console.log(`  declared: lost ${sum((r) => r.lost)}, evicted ${sum((r) => r.evicted)} (${sum((r) => r.deliveredThenEvicted)} of them delivered before eviction); undeclared gaps ${sum((r) => r.undeclared)}`);
  console.log(`  acknowledged readings missing ${sum((r) => r.ackedMissing)}, bricked ${sum((r) => r.bricked)}, panics ${sum((r) => r.panics)}, wakes over the radio budget ${sum((r) => r.overBudget)} (max radio-on ${Math.max(0, ...results.map((r) => Math.round(r.maxRadioMs)))} ms)`);
  console.log(`  cloud errors ${sum((r) => r.cloudErrors)}, unhandled rejections ${sum((r) => r.unhandled) + unhandled}`);
  console.log(`  ${failed.length === 0 ? "PASS" : `FAIL: seeds ${failed.map((r) => r.seed).join(", ")}`}`);
}
