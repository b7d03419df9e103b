// The virtual ESP32 itself: how fast virtual time runs against real time, and what one
// wake costs inside XS. Three workloads, each measured in this run:
//  - test/sim/apps/hello: a day of 15-minute wakes that only sample and sleep;
//  - the reference firmware (firmware/) on esp-wroom-32, batched, a virtual day against
//    the in-process cloud with mutual TLS, as `xsiot energy` runs it (issue 12: one
//    virtual day in at most 5 s of real time);
//  - the same firmware in naive mode (a TLS connection per reading), over a quarter day
//    (24 wakes), reported per virtual day.
// Each "virtual-per-real" figure is virtual ms over real ms of the same run (higher is
// faster); each wall figure carries its virtual span as the baseline, so the printed
// ratio is real over virtual time.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../tools/sim/image.ts";
import { loadBoard } from "../tools/sim/board.ts";
import { VirtualDevice } from "../tools/sim/device.ts";
import { runEnergy } from "../tools/energy/index.ts";
import type { BenchResult } from "./run.ts";

const DAY = 24 * 3_600_000;
/** Virtual days of the naive run (a TLS handshake per reading costs ~4x a batched wake in real time). */
const NAIVE_DAYS = Number(process.env.XSIOT_BENCH_SIM_NAIVE_DAYS ?? 0.25);

async function hello(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-bench-"));
  try {
    const device = new VirtualDevice({
      name: "bench",
      dir,
      board: loadBoard("esp-wroom-32"),
      image: buildApp(new URL("../test/sim/apps/hello", import.meta.url).pathname),
    });
    const started = performance.now();
    const summary = await device.run(DAY);
    const wall = performance.now() - started;
    device.shutdown();
    return [
      // Against the virtual day it simulated, measured in the same run.
      { name: "sim.day-of-15min-wakes.wall", value: wall, unit: "ms", baseline: DAY, better: "lower" },
      { name: "sim.day-of-15min-wakes.virtual-per-real", value: DAY / wall, unit: "x", better: "higher" },
      { name: "sim.wake.xs-compute", value: summary.compute / summary.boots, unit: "units/wake", better: "lower" },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function firmware(mode: "batched" | "naive", days: number): Promise<BenchResult[]> {
  const r = await runEnergy({ app: new URL("../firmware", import.meta.url).pathname, board: "esp-wroom-32", days, modes: [mode] });
  const run = r.runs[0];
  const virtual = days * DAY;
  const name = `sim.firmware-${mode}`;
  return [
    // The device's days only: from its first boot (engine snapshot made then) to the end of its last day.
    { name: `${name}.wall-per-virtual-day`, value: run.wallMs / days, unit: "ms", baseline: DAY, better: "lower" },
    { name: `${name}.virtual-per-real`, value: virtual / run.wallMs, unit: "x", better: "higher" },
    // Everything a one-mode `xsiot energy --days ${days}` does in process: build, cloud, certificate, the days.
    { name: `${name}.report-wall (${days} day)`, value: r.wallMs, unit: "ms", baseline: virtual, better: "lower" },
  ];
}

export async function run(): Promise<BenchResult[]> {
  return [...(await hello()), ...(await firmware("batched", 1)), ...(await firmware("naive", NAIVE_DAYS))];
}
