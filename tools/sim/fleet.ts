// Runs one or more virtual ESP32s for a span of virtual time and streams
// their trace. Used by `xsiot sim`, `xsiot energy`, the HIL target and tests.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildApp, type BuiltApp } from "./image.ts";
import { loadBoard, type Board } from "./board.ts";
import { loadScenario, type Scenario } from "./scenario.ts";
import { VirtualDevice, type DeviceSummary, type TraceEvent } from "./device.ts";
import { XsWorker, xsnapWorkerPath } from "./xsnap.ts";

export interface FleetOptions {
  app: string | BuiltApp;
  board: string | Board;
  durationMs: number;
  devices?: number;
  scenario?: string | Scenario;
  /** Folder holding one sub-folder per device. */
  dir?: string;
  /** Keep device folders from an earlier run (flash, NVS) instead of starting from erased chips. */
  keep?: boolean;
  startTime?: number;
  latencyMs?: number;
  /** Per-device settings overlaid on mc/config; a function gets the device index. */
  deviceConfig?: Record<string, unknown> | ((index: number, name: string) => Record<string, unknown>);
  namePrefix?: string;
  onTrace?: (event: TraceEvent) => void;
  onDevice?: (device: VirtualDevice) => void;
}

export interface EngineInfo {
  type: "engine";
  engine: string;
  xs: string;
  xsnap: string;
  /** What the app sees, probed inside XS. */
  inside: Record<string, unknown>;
}

let engineInfo: EngineInfo | undefined;

/** Names the engine: the worker's own version line, and a probe evaluated inside XS. */
export async function probeEngine(): Promise<EngineInfo> {
  if (engineInfo) return engineInfo;
  const line = execFileSync(xsnapWorkerPath(), ["-v"], { encoding: "utf8" }).trim();
  const m = /xsnap (\S+) \(XS (\S+)\)/.exec(line);
  const worker = new XsWorker({ onCommand: () => new Uint8Array(0) });
  try {
    const { reply } = await worker.evaluate(
      `(() => { const r = { process: typeof process, Compartment: typeof Compartment, harden: typeof harden, bigint: typeof 1n }; return new TextEncoder().encode(JSON.stringify(r)).buffer; })()`,
    );
    engineInfo = { type: "engine", engine: "Moddable XS", xs: m?.[2] ?? "unknown", xsnap: m?.[1] ?? "unknown", inside: JSON.parse(new TextDecoder().decode(reply)) };
  } finally {
    worker.kill();
  }
  return engineInfo;
}

export async function runFleet(options: FleetOptions): Promise<{ devices: VirtualDevice[]; summaries: DeviceSummary[] }> {
  const board = typeof options.board === "string" ? loadBoard(options.board) : options.board;
  const image = typeof options.app === "string" ? buildApp(options.app) : options.app;
  const count = options.devices ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 500) throw new RangeError(`devices must be 1-500, got ${count}`);
  const dir = resolve(options.dir ?? ".xsiot/sim");
  const devices: VirtualDevice[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${options.namePrefix ?? "dev"}-${i + 1}`;
    const deviceDir = join(dir, name);
    if (!options.keep) rmSync(deviceDir, { recursive: true, force: true });
    mkdirSync(deviceDir, { recursive: true });
    const scenario = typeof options.scenario === "string" ? loadScenario(options.scenario, i + 1) : options.scenario;
    const deviceConfig = typeof options.deviceConfig === "function" ? options.deviceConfig(i, name) : options.deviceConfig;
    const device = new VirtualDevice({
      name,
      dir: deviceDir,
      board,
      image,
      scenario,
      startTime: options.startTime,
      deviceConfig: { deviceName: name, ...deviceConfig },
      onTrace: options.onTrace,
    });
    if (options.latencyMs) device.faults.latencyMs = options.latencyMs;
    options.onDevice?.(device);
    devices.push(device);
  }
  const summaries = await Promise.all(devices.map((d) => d.run(options.durationMs).finally(() => d.shutdown())));
  return { devices, summaries };
}
