// Builds an app (a folder with a Moddable manifest.json) into a virtual ESP32
// image: every module compiled from TypeScript to an ES module with esbuild,
// bundled with the app's config, framed like an ESP-IDF app image
// (header, body, SHA-256 of both) so the boot loader can refuse a torn or
// tampered partition.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { transformSync } from "esbuild";
import { baseSurface, includeModdable, moddablePath, nativeRow, type DeviceSurface } from "./moddable/contract.ts";

export const REPO_ROOT = resolve(new URL("../..", import.meta.url).pathname);
const MAGIC = [0x58, 0x53, 0x49, 0x4d]; // "XSIM"

export class BuildError extends Error {}

export interface ImageInfo {
  app: string;
  version: string;
  main: string;
  config: Record<string, unknown>;
  modules: Record<string, string>;
  /** What the device itself provides to this app: from the Moddable manifests it includes (moddable/table.json). */
  device: DeviceSurface;
  /** App modules the manifests preload (frozen, evaluated before main, as xsl does). */
  preload: string[];
}

export interface BuiltApp {
  info: ImageInfo;
  bytes: Uint8Array;
  sha256: string;
  /** Per module: source file and esbuild source map, to report errors at TypeScript lines. */
  sources: Record<string, { file: string; map: string }>;
}

interface Manifest {
  include?: string | string[];
  modules?: Record<string, string | string[]>;
  config?: Record<string, unknown>;
  platforms?: Record<string, Manifest>;
  preload?: string | string[];
}

interface Collected {
  files: Map<string, string>;
  config: Record<string, unknown>;
  device: DeviceSurface;
  preload: string[];
  seen: Set<string>;
}

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split("\n").length;
}

function readManifest(path: string): Manifest {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new BuildError(`${path}: manifest not found`);
  }
  try {
    return JSON.parse(text) as Manifest;
  } catch (e) {
    const m = /position (\d+)/.exec(String(e));
    const line = m ? `:${lineOf(text, Number(m[1]))}` : "";
    throw new BuildError(`${path}${line}: invalid JSON in manifest: ${(e as Error).message}`);
  }
}

function expand(value: string, manifestDir: string, manifest: string): string {
  const out = value.replace(/\$\(([A-Z_]+)\)/g, (_, name: string) => {
    if (name === "XSIOT") return REPO_ROOT;
    throw new BuildError(`${manifest}: $(${name}) in "${value}" names Moddable's files; the virtual ESP32 knows them only as whole manifests (include them)`);
  });
  return resolve(manifestDir, out);
}

/** Collects module specifier -> source file from a manifest and its includes (platform "esp32"), and what the device provides. */
function collectModules(path: string, into: Collected): void {
  if (into.seen.has(path)) return;
  into.seen.add(path);
  const manifest = readManifest(path);
  const dir = dirname(path);
  const rel = relative(REPO_ROOT, path);
  const sections: Manifest[] = [manifest];
  for (const [platform, section] of Object.entries(manifest.platforms ?? {}))
    if (platform === "esp32" || platform.startsWith("esp32/")) sections.push(section);
  for (const section of sections) {
    const includes = section.include === undefined ? [] : Array.isArray(section.include) ? section.include : [section.include];
    for (const inc of includes) {
      const moddable = moddablePath(inc);
      if (moddable !== undefined) {
        // Moddable's own manifest: what it provides on esp32 comes from the table, as mcconfig would read it.
        if (!includeModdable(into.device, moddable))
          throw new BuildError(`${path}: includes ${inc}, which tools/sim/moddable/table.json does not describe (Moddable ${into.device.moddable}): add its row`);
        continue;
      }
      collectModules(expand(inc, dir, path), into);
    }
    Object.assign(into.config, section.config ?? {});
    for (const [spec, target] of Object.entries(section.modules ?? {})) {
      const native = nativeRow(spec, rel);
      if (native) {
        into.device.modules[spec] = native; // native code on the chip, emulated by the sim
        continue;
      }
      for (const t of Array.isArray(target) ? target : [target]) addModules(spec, expand(t, dir, path), into.files, path);
    }
    const preload = section.preload === undefined ? [] : Array.isArray(section.preload) ? section.preload : [section.preload];
    for (const p of preload) if (!into.preload.includes(p)) into.preload.push(p);
  }
}

function sourceFile(base: string): string | undefined {
  for (const ext of [".ts", ".js"]) if (existsSync(base + ext) && !base.endsWith(".d")) return base + ext;
  return undefined;
}

function addModules(spec: string, target: string, into: Map<string, string>, manifest: string): void {
  const prefix = spec.endsWith("*") ? spec.slice(0, -1) : undefined;
  if (target.endsWith("*")) {
    // "prefix/*": "dir/*" — every module file in dir, named prefix<basename>
    const dir = target.slice(0, -1);
    if (!existsSync(dir)) throw new BuildError(`${manifest}: module folder ${dir} does not exist`);
    for (const f of readdirSync(dir)) {
      if (!/\.(ts|js)$/.test(f) || f.endsWith(".d.ts") || statSync(join(dir, f)).isDirectory()) continue;
      const specifier = (prefix ?? spec + "/") + f.replace(/\.(ts|js)$/, "");
      into.set(specifier, join(dir, f));
    }
    return;
  }
  // "*": "./main" names the module after the file; "name": "./file" names it explicitly.
  const specifier = prefix !== undefined ? prefix + basename(target).replace(/\.(ts|js)$/, "") : spec;
  const file = sourceFile(target.replace(/\.(ts|js)$/, ""));
  if (!file) throw new BuildError(`${manifest}: module "${specifier}" names ${relative(process.cwd(), target)}, which has no .ts or .js file`);
  into.set(specifier, file);
}

export function buildApp(appDir: string, options: { version?: string; config?: Record<string, unknown> } = {}): BuiltApp {
  const manifestPath = resolve(appDir, "manifest.json");
  const collected: Collected = { files: new Map(), config: {}, device: baseSurface(), preload: [], seen: new Set() };
  collectModules(manifestPath, collected);
  const { files, config } = collected;
  Object.assign(config, options.config ?? {});
  if (options.version) config.version = options.version;
  if (!files.has("main")) throw new BuildError(`${manifestPath}: the app has no "main" module`);
  const modules: Record<string, string> = {};
  const sources: BuiltApp["sources"] = {};
  for (const [spec, file] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const text = readFileSync(file, "utf8");
    try {
      const out = transformSync(text, {
        loader: file.endsWith(".ts") ? "ts" : "js",
        format: "esm",
        target: "es2022",
        sourcemap: "external",
        sourcefile: file,
        logLevel: "silent",
      });
      modules[spec] = out.code;
      sources[spec] = { file, map: out.map };
    } catch (e) {
      const err = e as { errors?: { text: string; location?: { line: number; column: number } }[] };
      const first = err.errors?.[0];
      const where = first?.location ? `:${first.location.line}:${first.location.column + 1}` : "";
      throw new BuildError(`${relative(process.cwd(), file)}${where}: ${first?.text ?? String(e)}`);
    }
  }
  const info: ImageInfo = {
    app: basename(resolve(appDir)),
    version: typeof config.version === "string" ? config.version : "0.0.0",
    main: "main",
    config,
    modules,
    device: collected.device,
    preload: collected.preload.filter((p) => p in modules),
  };
  const bytes = frameImage(info);
  return { info, bytes, sha256: createHash("sha256").update(bytes).digest("hex"), sources };
}

export function frameImage(info: ImageInfo): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(info));
  const out = new Uint8Array(8 + body.length + 32);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, body.length, true);
  out.set(body, 8);
  out.set(createHash("sha256").update(out.subarray(0, 8 + body.length)).digest(), 8 + body.length);
  return out;
}

/** The boot loader's check: a whole, untampered image, or a reason why not. */
export function parseImage(partition: Uint8Array): { info: ImageInfo; length: number } | { error: string } {
  if (partition.length < 40 || MAGIC.some((b, i) => partition[i] !== b)) return { error: "no app image (bad magic)" };
  const length = new DataView(partition.buffer, partition.byteOffset).getUint32(4, true);
  if (8 + length + 32 > partition.length) return { error: `image length ${length} exceeds the partition` };
  const digest = createHash("sha256").update(partition.subarray(0, 8 + length)).digest();
  if (!digest.equals(partition.subarray(8 + length, 8 + length + 32))) return { error: "image SHA-256 mismatch (torn or tampered)" };
  try {
    const info = JSON.parse(new TextDecoder().decode(partition.subarray(8, 8 + length))) as ImageInfo;
    if (typeof info.modules !== "object" || typeof info.main !== "string") return { error: "image body is not an app" };
    return { info, length: 8 + length + 32 };
  } catch {
    return { error: "image body is not JSON" };
  }
}
