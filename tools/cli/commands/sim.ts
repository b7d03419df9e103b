// xsiot sim: run an app on virtual ESP32s in accelerated virtual time.
import { parseCommandArgs, UsageError } from "../args.ts";
import { runFleet, probeEngine } from "../../sim/fleet.ts";
import { parseDuration, formatDuration } from "../../sim/duration.ts";
import type { TraceEvent } from "../../sim/device.ts";
import { BuildError } from "../../sim/image.ts";
import { ScenarioError } from "../../sim/scenario.ts";
import { BoardError, boardIds } from "../../sim/board.ts";

export const summary = "run an app on virtual ESP32s (real XS engine, virtual time)";

const HELP = `usage: xsiot sim [options]

  --app DIR          app folder with a Moddable manifest.json (default: firmware)
  --board ID         board file in boards/ (default: esp-wroom-32; known: ${boardIds().join(", ")})
  --duration D       virtual time to run, e.g. 90s, 15m, 24h, 7d (default: 24h)
  --devices N        independent devices (default: 1)
  --scenario FILE    inputs and network faults (JSON; see tools/sim/scenario.ts)
  --latency D        added one-way network latency, e.g. 50ms
  --dir DIR          device folders (default: .xsiot/sim)
  --keep             keep flash and NVS from the last run instead of erased chips
  --config K=V       per-device mc/config setting (repeatable; V parsed as JSON when it can be)
  --start ISO        virtual wall-clock start (default: 2026-01-01T00:00:00Z)
  --json             one JSON object per line instead of the readable trace
  --quiet            only the summary`;

function formatEvent(e: TraceEvent): string {
  const { t, device, type, ...rest } = e;
  const time = new Date(t).toISOString().replace("T", " ").replace("Z", "");
  const detail = Object.entries(rest)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => (k === "text" || k === "message" ? String(v) : `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`))
    .join(" ");
  return `${time} ${device.padEnd(6)} ${type.padEnd(16)} ${detail}`;
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
        app: { type: "string", default: "firmware" },
        board: { type: "string", default: "esp-wroom-32" },
        duration: { type: "string", default: "24h" },
        devices: { type: "string", default: "1" },
        scenario: { type: "string" },
        latency: { type: "string" },
        dir: { type: "string" },
        keep: { type: "boolean", default: false },
        config: { type: "string", multiple: true, default: [] },
        start: { type: "string", default: "2026-01-01T00:00:00Z" },
        json: { type: "boolean", default: false },
        quiet: { type: "boolean", default: false },
      }, HELP);
  if (!parsed) return 0;
  const { values } = parsed;
  const devices = Number(values.devices);
  const start = Date.parse(values.start!);
  if (!Number.isInteger(devices) || devices < 1) {
    throw new UsageError(`--devices must be a positive integer`);
  }
  if (!Number.isFinite(start)) {
    throw new UsageError(`--start "${values.start}" is not a date`);
  }
  const deviceConfig: Record<string, unknown> = {};
  for (const kv of values.config!) {
    const i = kv.indexOf("=");
    if (i < 1) {
      throw new UsageError(`--config expects KEY=VALUE, got "${kv}"`);
    }
    const raw = kv.slice(i + 1);
    try {
      deviceConfig[kv.slice(0, i)] = JSON.parse(raw);
    } catch {
      deviceConfig[kv.slice(0, i)] = raw;
    }
  }
  let durationMs: number;
  let latencyMs = 0;
  try {
    durationMs = parseDuration(values.duration, "--duration");
    if (values.latency) latencyMs = parseDuration(values.latency, "--latency");
  } catch (e) {
    throw new UsageError(`${(e as Error).message}`);
  }
  const out = (line: string) => process.stdout.write(line + "\n");
  const engine = await probeEngine();
  if (values.json) out(JSON.stringify(engine));
  else if (!values.quiet) out(`engine: ${engine.engine} ${engine.xs} (xsnap ${engine.xsnap}); inside XS: ${JSON.stringify(engine.inside)}`);
  const started = performance.now();
  try {
    const { summaries } = await runFleet({
      app: values.app!,
      board: values.board!,
      durationMs,
      devices,
      scenario: values.scenario,
      dir: values.dir,
      keep: values.keep,
      startTime: start,
      latencyMs,
      deviceConfig,
      onTrace: values.quiet ? undefined : (e) => out(values.json ? JSON.stringify(e) : formatEvent(e)),
    });
    const wall = (performance.now() - started) / 1000;
    let failed = false;
    for (const s of summaries) {
      const e = s.energy;
      if (s.stoppedBecause) failed = true;
      const record = {
        type: "summary",
        device: s.name,
        virtual: formatDuration(e.durationMs),
        wallSeconds: Number(wall.toFixed(2)),
        boots: s.boots,
        wakes: s.wakes,
        panics: s.panics,
        resets: s.resets,
        version: s.version,
        computeUnits: s.compute,
        energy: {
          mah: Object.fromEntries(Object.entries(e.mah).map(([k, v]) => [k, Number(v.toFixed(4))])),
          totalMah: Number(e.totalMah.toFixed(4)),
          averageUa: Number(e.averageUa.toFixed(1)),
          projectedYears: Number(e.projectedYears.toFixed(2)),
          battery: `${e.batteryMah} mAh`,
        },
        stoppedBecause: s.stoppedBecause,
      };
      if (values.json) out(JSON.stringify(record));
      else {
        out(`\n${s.name}: ${record.virtual} virtual in ${record.wallSeconds}s, ${s.boots} boots, ${s.wakes} wakes, ${s.panics} panics, version ${s.version ?? "-"}`);
        out(`  energy: ${record.energy.totalMah} mAh, average ${record.energy.averageUa} uA, ~${record.energy.projectedYears} years on ${record.energy.battery}`);
        for (const [state, mah] of Object.entries(e.mah)) if (mah > 0) out(`    ${state.padEnd(11)} ${mah.toFixed(4).padStart(10)} mAh  ${formatDuration(e.ms[state as keyof typeof e.ms]).padStart(7)}`);
        if (s.stoppedBecause) out(`  stopped: ${s.stoppedBecause}`);
      }
    }
    return failed ? 1 : 0;
  } catch (e) {
    if (e instanceof BuildError || e instanceof ScenarioError || e instanceof BoardError) {
      console.error(`xsiot sim: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
