// Drives Moddable's own toolchain (mcconfig, tsc, xsc, xsl, mcrez) over the
// project's manifests, as a user with a Moddable checkout would, and checks
// what the toolchain itself does not: that every import resolves against the
// linked module table, the partition table, the merged sdkconfig. Used by
// scripts/moddable/check.ts (`npm run check:moddable`) and test/moddable/.
//
// ESP32 without ESP-IDF: `mcconfig -p esp32` (without -m) only writes the
// makefile (tools/mcconfig.js); this script then makes just the XS targets of
// that makefile (tools/mcconfig/make.esp32.mk: $(TMP_DIR)/mc.xs.c runs tsc,
// xsc per module and xsl; $(TMP_DIR)/mc.resources.c runs mcrez). The makefile
// insists on IDF_PATH and asks git for IDF_VERSION, and mc.xs.c depends on
// ESP-IDF's generated sdkconfig.h: an empty directory, a version on the
// command line and `make -o sdkconfig.h` stand in for them. Nothing is compiled
// for the chip, nothing is flashed.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, relative } from "node:path";
import * as acorn from "acorn";

export const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
export const MODDABLE_VERSION_CHECKED = "8.2.3";

export interface Toolchain {
  moddable: string;
  bin: string;
  env: NodeJS.ProcessEnv;
}

const TOOLS = ["mcconfig", "xsc", "xsl", "mcrez"];

/** The Moddable toolchain from $MODDABLE, or the reason it cannot be used (tests skip with it). */
export function toolchain(env: NodeJS.ProcessEnv = process.env): Toolchain | string {
  const moddable = env.MODDABLE;
  if (!moddable) return "MODDABLE is not set (point it at a Moddable SDK checkout with its Linux tools built: cd $MODDABLE/build/makefiles/lin && make)";
  const bin = join(moddable, "build/bin/lin/release");
  const missing = TOOLS.filter((t) => !existsSync(join(bin, t)));
  if (missing.length) return `Moddable's Linux tools are not built in ${bin} (missing ${missing.join(", ")}): cd $MODDABLE/build/makefiles/lin && make`;
  const tsc = join(REPO, "node_modules/.bin");
  if (!existsSync(join(tsc, "tsc"))) return "node_modules/.bin/tsc missing: run npm install";
  return {
    moddable,
    bin,
    env: { ...env, MODDABLE: moddable, XSIOT: REPO, PATH: `${tsc}:${bin}:${env.PATH ?? "/usr/bin:/bin"}` },
  };
}

/** Build outputs are kept here between runs (make rebuilds only what changed). */
export const CACHE = join(os.tmpdir(), "xsiot-moddable");

export interface BuildResult {
  name: string;
  platform: "esp32" | "lin";
  ok: boolean;
  /** tsc/xsc/xsl/mcrez/mcconfig error lines. */
  errors: string[];
  log: string;
  /** mcconfig's tmp dir for this app (makefile, modules/, xsProj-esp32/). */
  tmpDir: string;
  /** lin: the app's mc.so. */
  library?: string;
  seconds: number;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 64 << 20 });
}

function findFile(dir: string, name: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (entry === name) return p;
    if (statSync(p).isDirectory()) {
      const found = findFile(p, name);
      if (found) return found;
    }
  }
  return undefined;
}

/** Hash of every source the app's modules may come from: a change anywhere re-runs all of tsc. */
function sourcesStamp(extra: string[]): string {
  const h = createHash("sha256");
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort()) if (e !== "node_modules") walk(join(p, e));
    } else if (/\.(ts|js|json|c|h)$/.test(p)) {
      h.update(p);
      h.update(readFileSync(p));
    }
  };
  for (const d of ["sdk", "firmware", "examples", "manifests"]) walk(join(REPO, d));
  for (const d of extra) walk(d);
  return h.digest("hex");
}

/** Error lines of a Moddable build log. */
export function errorLines(log: string): string[] {
  // mcconfig runs tsc once per module, and each run reports the errors of the modules it imports too.
  const lines = [...new Set(log.split("\n").filter((l) => /error TS\d+|: error[: ]|^# error|### Error|XS abort|make: \*\*\*/i.test(l)).map((l) => l.replace(/^(\.\.\/)+/, "/")))];
  const specific = lines.filter((l) => !l.startsWith("make: ***"));
  return specific.length ? specific : lines;
}

/**
 * Runs mcconfig for one manifest: esp32 through the XS stages only (tsc, xsc, xsl, mcrez);
 * lin through the whole build (`-m -t build`), which leaves an mc.so to run.
 */
/** Runs fn holding a lock on dir: two test runs on one machine must not build in the same cache at once. */
function withLock<T>(dir: string, fn: () => T): T {
  const lock = dir + ".lock";
  mkdirSync(dirname(lock), { recursive: true });
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than any build is left from a killed run.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {}
      Atomics.wait(pause, 0, 0, 200);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export function buildApp(tc: Toolchain, manifest: string, platform: "esp32" | "lin", name: string, cacheKey = name): BuildResult {
  return withLock(join(CACHE, platform, cacheKey), () => buildAppLocked(tc, manifest, platform, name, cacheKey));
}

function buildAppLocked(tc: Toolchain, manifest: string, platform: "esp32" | "lin", name: string, cacheKey: string): BuildResult {
  const t0 = Date.now();
  // Apps that share a cache key share make's outputs (the boards differ only in mc/config).
  const out = join(CACHE, platform, cacheKey);
  mkdirSync(out, { recursive: true });
  const appDir = dirname(manifest);
  const stampFile = join(out, "sources.sha256");
  const stamp = sourcesStamp([appDir]);
  const stale = !existsSync(stampFile) || readFileSync(stampFile, "utf8") !== stamp;
  // mcconfig's makefile re-runs tsc for a module only when that module's own .ts changed, not
  // when a module it imports did: after any source change, type-check everything again.
  if (stale) for (const d of ["tmp", "bin"]) rmSync(join(out, d, platform), { recursive: true, force: true });
  const args = ["-d", "-p", platform, "-t", "build", "-o", out, manifest];
  if (platform === "lin") args.unshift("-m");
  const cfg = run("mcconfig", args, appDir, platform === "lin" ? { ...tc.env, MAKEFLAGS: "-j2" } : tc.env);
  let log = `$ mcconfig ${args.join(" ")}\n${cfg.stdout}${cfg.stderr}`;
  const makefile = findFile(join(out, "tmp", platform), "makefile") ?? "";
  const tmpDir = dirname(makefile);
  let ok = cfg.status === 0 && !!makefile;
  if (ok && platform === "esp32") {
    const idf = join(CACHE, "no-esp-idf");
    mkdirSync(idf, { recursive: true });
    const sdkconfigH = join(tmpDir, "xsProj-esp32/build/config/sdkconfig.h");
    const make = ["-k", "-j2", "-f", makefile, `IDF_PATH=${idf}`, "IDF_VERSION=v0-xs-stages-only", "-o", sdkconfigH, join(tmpDir, "mc.xs.c"), join(tmpDir, "mc.resources.c")];
    const m = run("make", make, tmpDir, tc.env);
    log += `$ make ${make.join(" ")}\n${m.stdout}${m.stderr}`;
    ok = m.status === 0 && existsSync(join(tmpDir, "mc.xs.c"));
  }
  let library: string | undefined;
  if (platform === "lin") {
    library = findFile(join(out, "bin", "lin"), "mc.so");
    ok &&= !!library;
  }
  const errors = errorLines(log);
  if (!ok && !errors.length) errors.push(`build failed (see the log): ${log.split("\n").slice(-5).join(" | ")}`);
  if (ok) writeFileSync(stampFile, stamp);
  else rmSync(stampFile, { force: true });
  return { name, platform, ok: ok && errors.length === 0, errors, log, tmpDir, library, seconds: (Date.now() - t0) / 1000 };
}

export interface LinkedModule {
  /** The name the module is linked under (what `import` must say), e.g. "embedded:io/socket/tcp". */
  name: string;
  /** The JavaScript xsc compiled (tsc's output for TypeScript). */
  source: string;
  xsb: string;
}

/** The module table xsl links, read from the makefile's MODULES list and its xsc rules. */
export function linkedModules(tmpDir: string): LinkedModule[] {
  const mk = readFileSync(join(tmpDir, "makefile"), "utf8");
  const modulesDir = /^MODULES_DIR = (.*)$/m.exec(mk)![1].trim();
  const list = /^MODULES =\\\n((?:\t.*\n)+)/m.exec(mk)?.[1] ?? "";
  const targets = [...list.matchAll(/\$\(MODULES_DIR\)\/(.*?)\.xsb/g)].map((m) => m[1]);
  const rules = new Map<string, string>();
  for (const m of mk.matchAll(/^\$\(MODULES_DIR\)\/(.*?)\.xsb: (\S+)/gm)) rules.set(m[1], m[2].replace("$(TMP_DIR)", tmpDir));
  return targets.map((t) => ({
    name: t.startsWith("~.") ? t.slice(2).replace("/", ":") : t,
    source: rules.get(t) ?? "",
    xsb: join(modulesDir, t + ".xsb"),
  }));
}

/** Static and literal dynamic import specifiers of an ES module. */
export function importsOf(code: string): string[] {
  const specs: string[] = [];
  // XS's host syntax (xs/sources/xsSyntaxical.c): `function f() @ "xs_f";`, `class C @ "xs_c_destructor" {`.
  const js = code.replace(/@\s*"[^"]*"(\s*;)?/g, (_m, semi) => (semi ? "{}" : ""));
  let ast: any;
  try {
    ast = acorn.parse(js, { ecmaVersion: "latest", sourceType: "module" });
  } catch {
    return importsByPattern(code); // other XS-only forms (host methods in object literals, `set x() @ ...`)
  }
  const visit = (node: any) => {
    if (!node || typeof node.type !== "string") return;
    if ((node.type === "ImportDeclaration" || node.type === "ExportAllDeclaration" || node.type === "ExportNamedDeclaration") && node.source) specs.push(node.source.value);
    if (node.type === "ImportExpression" && node.source.type === "Literal") specs.push(node.source.value);
    for (const key of Object.keys(node)) {
      const v = node[key];
      if (Array.isArray(v)) v.forEach(visit);
      else if (v && typeof v === "object" && typeof v.type === "string") visit(v);
    }
  };
  visit(ast);
  return specs;
}

/** Import specifiers found by pattern, comments removed: for modules a standard parser refuses. */
export function importsByPattern(code: string): string[] {
  const src = code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'\\])\/\/.*$/gm, "$1");
  const specs: string[] = [];
  for (const m of src.matchAll(/(?:^|[;}\s])(?:import|export)\s*(?:[\w$*\s{},]*?\bfrom\s*)?["']([^"'\n]+)["']/g)) specs.push(m[1]);
  for (const m of src.matchAll(/\bimport\s*\(\s*["']([^"'\n]+)["']\s*\)/g)) specs.push(m[1]);
  return specs;
}

/** XS resolves "./x" and "../x" against the importing module's name; anything else names a module. */
export function resolveSpecifier(from: string, spec: string): string {
  if (!spec.startsWith("./") && !spec.startsWith("../")) return spec;
  const parts = from.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

export interface Unresolved {
  module: string;
  specifier: string;
}

/** Every import of every linked module that names no linked module (xsl links them anyway; the device fails at boot). */
export function unresolvedImports(modules: LinkedModule[]): { unresolved: Unresolved[]; unparsed: string[] } {
  const names = new Set(modules.map((m) => m.name));
  const unresolved: Unresolved[] = [];
  const unparsed: string[] = [];
  for (const m of modules) {
    if (!/\.(m?js)$/.test(m.source) || !existsSync(m.source)) continue;
    let specs: string[];
    try {
      specs = importsOf(readFileSync(m.source, "utf8"));
    } catch (e) {
      unparsed.push(`${m.name}: ${(e as Error).message}`);
      continue;
    }
    for (const s of specs) if (!names.has(resolveSpecifier(m.name, s))) unresolved.push({ module: m.name, specifier: s });
  }
  return { unresolved, unparsed };
}

export interface Partition {
  name: string;
  type: string;
  subtype: string;
  offset: string;
  size: number;
}

/** ESP-IDF partition table CSV (Name, Type, SubType, Offset, Size, Flags). */
export function parsePartitions(csv: string): Partition[] {
  const num = (v: string) => (/^0x/i.test(v) ? parseInt(v, 16) : /K$/i.test(v) ? parseInt(v) * 1024 : /M$/i.test(v) ? parseInt(v) * 1048576 : parseInt(v));
  return csv
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(",").map((c) => c.trim()))
    .map(([name, type, subtype, offset, size]) => ({ name, type, subtype, offset, size: num(size) }));
}

/** Problems with an ESP32 build's partition table for OTA: otadata plus two OTA app slots. */
export function otaProblems(parts: Partition[]): string[] {
  const p: string[] = [];
  if (!parts.some((x) => x.type === "data" && x.subtype === "ota")) p.push("no otadata partition (data, ota)");
  const slots = parts.filter((x) => x.type === "app" && /^ota_\d+$/.test(x.subtype));
  if (slots.length < 2) p.push(`${slots.length} OTA app slot(s), need 2 (ota_0, ota_1)`);
  return p;
}

export interface XsbSize {
  /** Bytes of the CODE atom (the bytecode). */
  code: number;
  /** Bytes of the whole .xsb (bytecode, symbols, host functions). */
  file: number;
}

/** Sizes of an .xsb written by xsc (xs/tools/xsc.c: XS_B atom holding VERS, SYMB, CODE, HOST). */
export function xsbSize(path: string): XsbSize {
  const b = readFileSync(path);
  if (b.toString("latin1", 4, 8) !== "XS_B") throw new Error(`${path}: not an XS_B file`);
  let code = 0;
  for (let o = 8; o + 8 <= b.length; ) {
    const size = b.readUInt32BE(o);
    if (b.toString("latin1", o + 4, o + 8) === "CODE") code = size - 8;
    if (size < 8) break;
    o += size;
  }
  return { code, file: b.length };
}

export interface ModuleSize extends XsbSize {
  name: string;
  /** CODE bytes when compiled without -d (no line table): what a release build carries. */
  releaseCode: number;
}

/** Bytecode size of every linked module whose name starts with prefix (debug as built, and release by xsc without -d). */
export function moduleSizes(tc: Toolchain, modules: LinkedModule[], prefix = "xsiot/"): ModuleSize[] {
  const dir = join(CACHE, "release-xsb");
  const sizes: ModuleSize[] = [];
  for (const m of modules.filter((x) => x.name.startsWith(prefix) && existsSync(x.xsb))) {
    const out = join(dir, dirname(m.name));
    mkdirSync(out, { recursive: true });
    const base = m.name.split("/").pop()!;
    const r = run("xsc", [m.source, "-c", "-e", "-o", out, "-r", base], dir, tc.env);
    const rel = r.status === 0 ? xsbSize(join(out, base + ".xsb")).code : NaN;
    sizes.push({ name: m.name, ...xsbSize(m.xsb), releaseCode: rel });
  }
  return sizes.sort((a, b) => a.name.localeCompare(b.name));
}

/** The README's "Use the SDK in a Moddable app" manifest and main.ts, exactly as printed. */
export function readmeSnippet(readme = readFileSync(join(REPO, "README.md"), "utf8")): { manifest: string; main: string } {
  const start = readme.indexOf("## Use the SDK in a Moddable app");
  if (start < 0) throw new Error('README.md has no "## Use the SDK in a Moddable app" section');
  const section = readme.slice(start, readme.indexOf("\n## ", start + 3));
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)];
  const manifest = blocks.find((b) => b[1] === "jsonc" || b[1] === "json")?.[2];
  const main = blocks.find((b) => b[1] === "ts")?.[2];
  if (!manifest || !main) throw new Error("the README snippet needs a ```jsonc manifest block and a ```ts main block");
  return { manifest: manifest.replace(/^\s*\/\/.*$/gm, ""), main };
}

/** Writes the README snippet as an app directory; returns its manifest path. */
export function writeSnippetApp(): string {
  const dir = join(CACHE, "apps", "readme-snippet");
  mkdirSync(dir, { recursive: true });
  const { manifest, main } = readmeSnippet();
  const write = (f: string, text: string) => {
    const p = join(dir, f);
    if (!existsSync(p) || readFileSync(p, "utf8") !== text) writeFileSync(p, text);
  };
  write("manifest.json", manifest);
  write("main.ts", main);
  return join(dir, "manifest.json");
}

export interface Target {
  name: string;
  manifest: string;
  /** Board manifests carry the firmware: their partitions and sdkconfig are checked too. */
  board: boolean;
}

/** What check:moddable builds for esp32: every board manifest, the README snippet, each example. */
export function esp32Targets(): Target[] {
  const boards = readdirSync(join(REPO, "manifests"))
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => ({ name: `board-${f.slice(0, -5)}`, manifest: join(REPO, "manifests", f), board: true }));
  const examples = existsSync(join(REPO, "examples"))
    ? readdirSync(join(REPO, "examples"))
        .filter((d) => existsSync(join(REPO, "examples", d, "manifest.json")))
        .sort()
        .map((d) => ({ name: `example-${d}`, manifest: join(REPO, "examples", d, "manifest.json"), board: false }))
    : [];
  return [...boards, { name: "readme-snippet", manifest: writeSnippetApp(), board: false }, ...examples];
}

export interface Esp32Check {
  target: Target;
  build: BuildResult;
  problems: string[];
  partitions: Partition[];
  modules: LinkedModule[];
}

/** Builds one esp32 target and checks imports, and for boards the OTA partitions and the rollback sdkconfig. */
export function checkEsp32(tc: Toolchain, target: Target): Esp32Check {
  const build = buildApp(tc, target.manifest, "esp32", target.name, target.board ? "boards" : target.name);
  const problems = [...build.errors];
  let partitions: Partition[] = [];
  let modules: LinkedModule[] = [];
  if (build.tmpDir && existsSync(join(build.tmpDir, "makefile"))) {
    modules = linkedModules(build.tmpDir);
    if (build.ok) {
      const { unresolved, unparsed } = unresolvedImports(modules);
      for (const u of unresolved) problems.push(`unresolved import: ${u.module} imports "${u.specifier}", which no included manifest links`);
      for (const u of unparsed) problems.push(`cannot parse for the import check: ${u}`);
    }
    const csv = join(build.tmpDir, "xsProj-esp32/partitions.csv");
    if (existsSync(csv)) partitions = parsePartitions(readFileSync(csv, "utf8"));
    if (target.board) {
      if (!existsSync(csv)) problems.push("mcconfig wrote no xsProj-esp32/partitions.csv");
      else for (const p of otaProblems(partitions)) problems.push(`partitions.csv: ${p}`);
      const sdkconfig = join(build.tmpDir, "xsProj-esp32/sdkconfig.mc");
      if (!existsSync(sdkconfig) || !/^CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y$/m.test(readFileSync(sdkconfig, "utf8")))
        problems.push("the merged sdkconfig (xsProj-esp32/sdkconfig.mc) lacks CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y");
    }
  }
  return { target, build, problems, partitions, modules };
}

export function relativeToRepo(p: string): string {
  return p.startsWith(REPO) ? relative(REPO, p) : p;
}

/**
 * What check:moddable also builds for lin (the whole mc.so, C included): the README snippet and
 * the examples. Not the boards: the firmware needs modules Moddable has only on esp32
 * (modules/io/update/manifest.json fails every other platform).
 */
export function linTargets(): Target[] {
  return esp32Targets().filter((t) => !t.board);
}

/** Builds one target for lin and checks its imports against the linked module table. */
export function checkLin(tc: Toolchain, target: Target): Esp32Check {
  const build = buildApp(tc, target.manifest, "lin", target.name);
  const problems = [...build.errors];
  let modules: LinkedModule[] = [];
  if (build.ok) {
    modules = linkedModules(build.tmpDir);
    for (const u of unresolvedImports(modules).unresolved) problems.push(`unresolved import: ${u.module} imports "${u.specifier}", which no included manifest links`);
  }
  return { target, build, problems, partitions: [], modules };
}

/** Every manifest mcconfig read for this build (the makefile's MANIFEST list). */
export function includedManifests(tmpDir: string): string[] {
  const mk = readFileSync(join(tmpDir, "makefile"), "utf8");
  const list = /^MANIFEST = \\\n((?:\t.*\n)+)/m.exec(mk)?.[1] ?? "";
  return list.split("\n").map((l) => l.replace(/\\$/, "").trim()).filter(Boolean);
}
