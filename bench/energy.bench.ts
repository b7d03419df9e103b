// Battery life of the reference firmware on esp-wroom-32 (2 x AA lithium) at
// 15-minute sampling, and its ratio to the naive configuration (connect and
// publish every reading), both measured in this run by the energy report (mutual TLS).
import { runEnergy } from "../tools/energy/index.ts";

const DAYS = Number(process.env.XSIOT_BENCH_ENERGY_DAYS ?? 2);

export async function run(): Promise<{ name: string; value: number; unit: string; baseline?: number; better?: "lower" | "higher" }[]> {
  const r = await runEnergy({ app: new URL("../firmware", import.meta.url).pathname, board: "esp-wroom-32", days: DAYS });
  const batched = r.runs.find((x) => x.mode === "batched")!;
  const naive = r.runs.find((x) => x.mode === "naive")!;
  return [
    { name: "energy.battery-years.batched", value: batched.projectedYears, unit: "years", baseline: naive.projectedYears, better: "higher" },
    { name: "energy.average-current.batched", value: batched.averageUa, unit: "uA", baseline: naive.averageUa, better: "lower" },
    { name: "energy.naive-over-batched", value: r.ratio, unit: "x", better: "higher" },
  ];
}
