// Builds an app (a folder with a Moddable manifest.json) into a virtual ESP32
// image: every module compiled from TypeScript to an ES module with esbuild,
// bundled with the app's config, framed like an ESP-IDF app image
// (header, body, SHA-256 of both) so the boot loader can refuse a torn or
// tampered partition.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { transformSync } from "esbuild";

export const REPO_ROOT = resolve(new URL("../..", import.meta.url).pathname);
const MAGIC = [0x58, 0x53, 0x49, 0x4d]; // "XSIM"

export class BuildError extends Error {}

/** Module specifiers the device provides itself (Moddable built-ins, or SDK native code). */
export const DEVICE_MODULES = new Set([
  "timer",
  "crypt",
  "ecdsa",
  "mc/config",
  "embedded:io/system",
  "embedded:RTC",
  "embedded:io/socket/tcp",
  "embedded:io/socket/tcp/tls",
  "embedded:io/analog",
  "embedded:io/digital",
  "embedded:io/i2c",
  "embedded:storage/key-value",
  "embedded:storage/flash",
  "embedded:update",
  "xsiot/native/esp32",
]);

export interface ImageInfo {
  app: string;
  version: string;
  main: string;
  config: Record<string, unknown>;
  modules: Record<string, string>;
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

function expand(value: string, manifestDir: string): string | undefined {
  const vars: Record<string, string> = { XSIOT: REPO_ROOT };
  let unknown = false;
  const out = value.replace(/\$\(([A-Z_]+)\)/g, (_, name: string) => {
    if (name in vars) return vars[name];
    unknown = true; // $(MODDABLE), $(MODULES)...: Moddable's own, provided by the device
    return "";
  });
  if (unknown) return undefined;
  return resolve(manifestDir, out);
}

/** Collects module specifier -> source file from a manifest and its includes (platform "esp32"). */
function collectModules(path: string, into: Map<string, string>, config: Record<string, unknown>, seen: Set<string>): void {
  if (seen.has(path)) return;
  seen.add(path);
  const manifest = readManifest(path);
  const dir = dirname(path);
  const sections: Manifest[] = [manifest];
  for (const [platform, section] of Object.entries(manifest.platforms ?? {}))
    if (platform === "esp32" || platform.startsWith("esp32/")) sections.push(section);
  for (const section of sections) {
    const includes = section.include === undefined ? [] : Array.isArray(section.include) ? section.include : [section.include];
    for (const inc of includes) {
      const p = expand(inc, dir);
      if (p) collectModules(p, into, config, seen);
    }
    Object.assign(config, section.config ?? {});
    for (const [spec, target] of Object.entries(section.modules ?? {})) {
      for (const t of Array.isArray(target) ? target : [target]) {
        const p = expand(t, dir);
        if (!p) continue;
        addModules(spec, p, into, path);
      }
    }
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
      if (!DEVICE_MODULES.has(specifier)) into.set(specifier, join(dir, f));
    }
    return;
  }
  // "*": "./main" names the module after the file; "name": "./file" names it explicitly.
  const specifier = prefix !== undefined ? prefix + basename(target).replace(/\.(ts|js)$/, "") : spec;
  if (DEVICE_MODULES.has(specifier)) return;
  const file = sourceFile(target.replace(/\.(ts|js)$/, ""));
  if (!file) throw new BuildError(`${manifest}: module "${specifier}" names ${relative(process.cwd(), target)}, which has no .ts or .js file`);
  into.set(specifier, file);
}

export function buildApp(appDir: string, options: { version?: string; config?: Record<string, unknown> } = {}): BuiltApp {
  const manifestPath = resolve(appDir, "manifest.json");
  const files = new Map<string, string>();
  const config: Record<string, unknown> = {};
  collectModules(manifestPath, files, config, new Set());
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
