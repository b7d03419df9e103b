// The virtual ESP32 itself: how fast a day of 15-minute wakes runs, and what
// one wake costs inside XS.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../tools/sim/image.ts";
import { loadBoard } from "../tools/sim/board.ts";
import { VirtualDevice } from "../tools/sim/device.ts";
import type { BenchResult } from "./run.ts";

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-bench-"));
  try {
    const device = new VirtualDevice({
      name: "bench",
      dir,
      board: loadBoard("esp-wroom-32"),
      image: buildApp(new URL("../test/sim/apps/hello", import.meta.url).pathname),
    });
    const started = performance.now();
    const summary = await device.run(24 * 3_600_000);
    const wall = performance.now() - started;
    device.shutdown();
    return [
      // Against the virtual day it simulated, measured in the same run.
      { name: "sim.day-of-15min-wakes.wall", value: wall, unit: "ms", baseline: 24 * 3_600_000, better: "lower" },
      { name: "sim.wake.xs-compute", value: summary.compute / summary.boots, unit: "units/wake", better: "lower" },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
