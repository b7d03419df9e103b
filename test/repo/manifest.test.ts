// sdk/manifest.json maps every SDK module on esp32, and on other platforms
// exactly the modules whose imports (followed through the SDK) avoid what only
// Moddable's esp32 build has, so a lin or mac build links no module whose
// imports would fail at run time. Also: the typings it hands to mcconfig's tsc exist.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
const sdk = join(root, "sdk");

// Moddable 8.2.3 provides these for esp32 only (lin: modules/io/manifests/lin/manifest.json
// has sockets and system; analog, digital, i2c, storage, flash and update are esp32 or mac).
const ESP32_ONLY = /^(embedded:io\/(analog|digital|i2c)$|embedded:storage\/|embedded:update$|xsiot\/native\/)/;

function modules(dir = sdk, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) {
      if (p !== join(sdk, "typings") && p !== join(sdk, "native")) modules(p, out);
    } else if (n.endsWith(".ts") && !n.endsWith(".d.ts")) out.push(relative(sdk, p).slice(0, -3));
  }
  return out;
}

/** Runtime imports of an SDK module (type-only imports are erased). */
function imports(mod: string): string[] {
  const src = readFileSync(join(sdk, `${mod}.ts`), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  for (const m of src.matchAll(/^\s*(?:import|export)\s+(type\s+)?([^;]*?)\s*from\s+["']([^"']+)["']/gm)) {
    if (m[1]) continue;
    if (/^\{[^}]*\}$/.test(m[2]) && m[2].slice(1, -1).split(",").every((x) => /^\s*type\s/.test(x) || !x.trim())) continue;
    const spec = m[3];
    if (spec.startsWith(".")) out.push(normalize(join(dirname(mod), spec)));
    else if (spec.startsWith("xsiot/") && !spec.startsWith("xsiot/native/")) out.push(spec.slice(6));
    else out.push(spec);
  }
  return out;
}

function esp32Only(mod: string, seen = new Set<string>()): boolean {
  if (seen.has(mod)) return false;
  seen.add(mod);
  return imports(mod).some((s) => ESP32_ONLY.test(s) || (existsSync(join(sdk, `${s}.ts`)) && esp32Only(s, seen)));
}

/** Modules a manifest "modules" block maps, wildcards expanded against the files. */
function mapped(block: Record<string, string>, all: string[]): Set<string> {
  const out = new Set<string>();
  for (const [spec, path] of Object.entries(block)) {
    assert.ok(spec.startsWith("xsiot/"), spec);
    if (spec.endsWith("/*")) {
      assert.equal(path, `./${spec.slice(6)}`, spec);
      for (const m of all) if (m.startsWith(spec.slice(6, -1)) && !m.slice(spec.length - 7).includes("/")) out.add(m);
    } else {
      assert.equal(path, `./${spec.slice(6)}`, spec);
      assert.ok(all.includes(spec.slice(6)), `${spec}: no such module`);
      out.add(spec.slice(6));
    }
  }
  return out;
}

const manifest = JSON.parse(readFileSync(join(sdk, "manifest.json"), "utf8"));

test("esp32 maps every SDK module", () => {
  const all = modules();
  const esp32 = mapped(manifest.platforms.esp32.modules, all);
  assert.deepEqual(all.filter((m) => !esp32.has(m)), []);
});

test("other platforms map exactly the modules that need nothing esp32-only", () => {
  const all = modules();
  const other = mapped(manifest.platforms["..."].modules, all);
  const expected = all.filter((m) => !esp32Only(m));
  assert.deepEqual([...other].sort(), expected.sort());
  const left = all.filter((m) => esp32Only(m));
  for (const m of left) {
    const area = m.split("/")[0];
    const named = manifest.platforms["..."].warning.includes(m) || manifest.platforms["..."].warning.includes(`${area}/*`);
    assert.ok(named, `the warning names ${m}`);
  }
});

test("the typings handed to mcconfig's tsc exist", () => {
  const types: string[] = manifest.typescript.tsconfig.compilerOptions.types;
  assert.ok(types.length > 0);
  for (const t of types.filter((t) => !t.startsWith("$(MODDABLE)"))) assert.ok(existsSync(join(sdk, `${t}.d.ts`)), t);
});

test("esp32 preloads every module except those whose imports reach embedded:io/socket/tcp/tls (the app's choice)", () => {
  const needsTls = (mod: string, seen = new Set<string>()): boolean => {
    if (seen.has(mod)) return false;
    seen.add(mod);
    return imports(mod).some((s) => s === "embedded:io/socket/tcp/tls" || (existsSync(join(sdk, `${s}.ts`)) && needsTls(s, seen)));
  };
  const preload: string[] = manifest.platforms.esp32.preload;
  const expected = modules().filter((m) => !needsTls(m)).map((m) => `xsiot/${m}`);
  assert.deepEqual([...preload].sort(), expected.sort());
  assert.ok(!preload.includes("xsiot/provisioning/provision"));
  const firmware = JSON.parse(readFileSync(join(root, "firmware/manifest.json"), "utf8"));
  for (const m of modules().filter((m) => needsTls(m))) assert.ok(firmware.preload.includes(`xsiot/${m}`), `the firmware preloads xsiot/${m}`);
});
