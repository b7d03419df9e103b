// npm run bench [name]: runs every bench/*.bench.ts (or those whose file name
// contains `name`) and prints each figure, with its ratio to a baseline measured
// in the same run when the bench gives one (result.baseline). Nothing is compared
// with figures stored from another run: those move with the machine and the load.
import { readdirSync } from "node:fs";

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** A baseline measured in the same run (e.g. Moddable's client, the naive configuration). */
  baseline?: number;
  /** Say which way is better. */
  better?: "lower" | "higher";
}

const dir = new URL("./", import.meta.url);
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
      const base = r.baseline;
      const ratio = base ? r.value / base : undefined;
      console.log(
        `${r.name.padEnd(64)} ${r.value.toPrecision(6).padStart(12)} ${r.unit.padEnd(10)}` +
          (ratio !== undefined ? ` ratio ${ratio.toPrecision(4)} vs ${base!.toPrecision(6)} (same run)` : ""),
      );
    }
  } catch (e) {
    failed = true;
    console.error(`${file} failed: ${(e as Error).stack ?? e}`);
  }
}
process.exitCode = failed ? 1 : 0;
