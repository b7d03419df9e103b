// Board files (boards/<id>.json): pins, flash layout, ADC calibration, and the
// power figures the energy meter integrates, each with its source.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./image.ts";

export interface Figure {
  value: number;
  source: string;
}

export interface Board {
  id: string;
  name: string;
  description: string;
  mcconfig: { platform: string };
  flash: { size: number; blockLength: number; partitions: Record<string, number>; source: string };
  pins: Record<string, number>;
  rtcGpio: number[];
  adc: { resolution: number; calibration: { attenuationDb: number; points: [number, number][]; source: string } };
  sensors: Record<string, Record<string, unknown>>;
  power: Record<PowerFigure, Figure>;
  battery: { capacityMah: number; cells: string; source: string };
}

export const POWER_FIGURES = [
  "deepSleepUa",
  "boardSleepUa",
  "cpuActiveMa",
  "wifiRxMa",
  "wifiTxMa",
  "wifiPhyMbps",
  "wifiJoinMs",
  "wifiJoinCachedMs",
  "tlsHandshakeMs",
  "bootMs",
  "computeUnitNs",
] as const;
export type PowerFigure = (typeof POWER_FIGURES)[number];

export const BOARDS_DIR = join(REPO_ROOT, "boards");

export function boardIds(): string[] {
  return readdirSync(BOARDS_DIR)
    .filter((f) => f.endsWith(".json") && !f.includes("schema"))
    .map((f) => f.slice(0, -5))
    .sort();
}

export class BoardError extends Error {}

/** Loads and checks a board; every problem names the file. */
export function loadBoard(idOrPath: string): Board {
  const path = idOrPath.endsWith(".json") ? idOrPath : join(BOARDS_DIR, `${idOrPath}.json`);
  if (!existsSync(path)) throw new BoardError(`unknown board "${idOrPath}" (known: ${boardIds().join(", ")})`);
  let board: Board;
  try {
    board = JSON.parse(readFileSync(path, "utf8")) as Board;
  } catch (e) {
    throw new BoardError(`${path}: ${(e as Error).message}`);
  }
  const problems = checkBoard(board);
  if (problems.length) throw new BoardError(`${path}: ${problems.join("; ")}`);
  return board;
}

export function checkBoard(b: Board): string[] {
  const p: string[] = [];
  if (typeof b.id !== "string" || !b.id) p.push("missing id");
  for (const f of POWER_FIGURES) {
    const fig = b.power?.[f];
    if (!fig || typeof fig.value !== "number" || !(fig.value >= 0)) p.push(`power.${f}.value must be a non-negative number`);
    else if (typeof fig.source !== "string" || fig.source.length < 10) p.push(`power.${f} needs a source`);
  }
  for (const part of ["nvs", "ota_0", "ota_1"])
    if (!(b.flash?.partitions?.[part] > 0)) p.push(`flash.partitions.${part} missing`);
  const pts = b.adc?.calibration?.points;
  if (!Array.isArray(pts) || pts.length < 2) p.push("adc.calibration.points needs at least two [raw, mV] points");
  else
    for (let i = 1; i < pts.length; i++)
      if (!(pts[i][0] > pts[i - 1][0] && pts[i][1] > pts[i - 1][1])) p.push(`adc.calibration.points must increase (at ${i})`);
  if (!(b.battery?.capacityMah > 0)) p.push("battery.capacityMah missing");
  for (const [name, gpio] of Object.entries(b.pins ?? {}))
    if (!Number.isInteger(gpio) || gpio < 0 || gpio > 39) p.push(`pins.${name} is not an ESP32 GPIO`);
  return p;
}

/** mV at the pin -> raw ADC count, by inverting the board's calibration curve. */
export function adcRawFromMv(board: Board, mv: number): number {
  const pts = board.adc.calibration.points;
  const max = (1 << board.adc.resolution) - 1;
  if (mv <= pts[0][1]) return 0;
  for (let i = 1; i < pts.length; i++) {
    const [r0, v0] = pts[i - 1];
    const [r1, v1] = pts[i];
    if (mv <= v1) return Math.max(0, Math.min(max, Math.round(r0 + ((mv - v0) * (r1 - r0)) / (v1 - v0))));
  }
  return max;
}
