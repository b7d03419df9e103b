// npm run bench: runs every bench/*.bench.ts and prints each figure with its
// ratio to a baseline — either measured in the same run (result.baseline) or
// the first measured figures stored in bench/baseline.json.
import { readFileSync, readdirSync } from "node:fs";

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** A baseline measured in the same run (e.g. the naive configuration). */
  baseline?: number;
  /** Say which way is better, for the verdict column. */
  better?: "lower" | "higher";
}

const dir = new URL("./", import.meta.url);
let stored: Record<string, number> = {};
try {
  stored = JSON.parse(readFileSync(new URL("baseline.json", dir), "utf8")) as Record<string, number>;
} catch {
  // no stored baseline yet
}

const only = process.argv[2];
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts") && (!only || f.includes(only)))
  .sort();
let failed = false;
for (const file of files) {
  console.log(`\n## ${file}`);
  try {
    const mod = (await import(new URL(file, dir).href)) as { run(): Promise<BenchResult[]> };
    for (const r of await mod.run()) {
      const base = r.baseline ?? stored[r.name];
      const ratio = base ? r.value / base : undefined;
      const source = r.baseline !== undefined ? "same run" : base !== undefined ? "bench/baseline.json" : "no baseline";
      console.log(
        `${r.name.padEnd(48)} ${r.value.toPrecision(5).padStart(12)} ${r.unit.padEnd(12)}` +
          (ratio !== undefined ? ` ratio ${ratio.toPrecision(4)} vs ${base!.toPrecision(5)} (${source})` : ` (${source})`),
      );
    }
  } catch (e) {
    failed = true;
    console.error(`${file} failed: ${(e as Error).stack ?? e}`);
  }
}
process.exitCode = failed ? 1 : 0;
