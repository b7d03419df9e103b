// The contract with Moddable: which specifiers, globals and preloads an app
// gets on esp32, from the Moddable manifests it includes (table.json, kept as
// data with Moddable's version and the source path of each row). image.ts
// asks this file as it walks an app's manifests, as mcconfig would.
import { readFileSync } from "node:fs";

export interface ContractRow {
  /** The Moddable source that implements it, relative to $(MODDABLE). */
  source: string;
  preload?: boolean;
  /** The file in tools/sim/moddable/ that emulates it; null: Moddable has it, the sim does not. */
  sim: string | null;
}

export interface ManifestRow {
  via?: string;
  include?: string[];
  modules?: Record<string, ContractRow>;
  globals?: Record<string, ContractRow>;
}

export interface Table {
  moddable: string;
  platform: string;
  always: ManifestRow;
  manifests: Record<string, ManifestRow>;
  native: Record<string, ContractRow & { manifest: string }>;
}

export const TABLE: Table = JSON.parse(readFileSync(new URL("./table.json", import.meta.url), "utf8"));

/** What the device offers an app: specifier or global name -> the row and the Moddable manifest that gives it. */
export interface DeviceSurface {
  moddable: string;
  /** The Moddable manifests included, in order. */
  manifests: string[];
  modules: Record<string, ContractRow & { manifest: string }>;
  globals: Record<string, ContractRow & { manifest: string }>;
}

export function baseSurface(): DeviceSurface {
  const surface: DeviceSurface = { moddable: TABLE.moddable, manifests: [], modules: {}, globals: {} };
  addRow(surface, "(mcconfig -p esp32)", TABLE.always);
  for (const inc of TABLE.always.include ?? []) includeModdable(surface, inc);
  return surface;
}

function addRow(surface: DeviceSurface, manifest: string, row: ManifestRow): void {
  for (const [spec, r] of Object.entries(row.modules ?? {})) surface.modules[spec] ??= { ...r, manifest };
  for (const [name, r] of Object.entries(row.globals ?? {})) surface.globals[name] ??= { ...r, manifest };
}

/**
 * Adds a Moddable manifest (path relative to $(MODDABLE)) and what it includes.
 * Returns false when the table does not know the manifest.
 */
export function includeModdable(surface: DeviceSurface, path: string): boolean {
  const row = TABLE.manifests[path];
  if (!row) return false;
  if (surface.manifests.includes(path)) return true;
  surface.manifests.push(path);
  addRow(surface, path, row);
  for (const inc of row.include ?? []) includeModdable(surface, inc);
  return true;
}

/** A Moddable path variable in a manifest include, as a path relative to $(MODDABLE); undefined if not Moddable's. */
export function moddablePath(include: string): string | undefined {
  const m = /^\$\((MODDABLE|MODULES|BUILD)\)\/(.*)$/.exec(include);
  if (!m) return undefined;
  const prefix = { MODDABLE: "", MODULES: "modules/", BUILD: "build/" }[m[1] as "MODDABLE"];
  return (prefix + m[2]).replace(/\/\.\//g, "/");
}

/** A native module of this repository that the sim emulates, when `file` (no extension) is the one its manifest maps. */
export function nativeRow(specifier: string, manifestRel: string): (ContractRow & { manifest: string }) | undefined {
  const row = TABLE.native[specifier];
  return row && row.manifest === manifestRel ? row : undefined;
}
