// Device code (sdk/, firmware/) runs on XS: no Node modules, no Node globals,
// no npm runtime dependencies. tsconfig.device.json (no Node types) catches
// most of this at compile time; this scan catches the rest (any-typed escapes,
// JavaScript files, bare imports).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("../..", import.meta.url).pathname;

function files(dir: string, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.(ts|js)$/.test(n) && !n.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

// Modules the device may import: its own SDK, relative paths, and what Moddable provides.
const DEVICE_SPECIFIERS = /^(\.{1,2}\/|xsiot\/|embedded:|timer$|crypt$|ecdsa$|mc\/config$)/;

export function violations(path: string, src: string): string[] {
  const code = stripComments(src);
  const bare = code.replace(/(["'`])(?:\\.|(?!\1)[^\\\n])*\1/g, '""'); // string contents cannot call anything
  const found: string[] = [];
  const rules: [RegExp, string][] = [
    [/\bfrom\s+["']node:[^"']+["']|\bimport\(\s*["']node:/, "imports a node: module"],
    [/\brequire\s*\(/, "uses require()"],
    [/\bBuffer\s*[.(]|\bnew\s+Buffer\b|:\s*Buffer\b/, "uses Buffer"],
    [/\bprocess\s*\.\s*\w/, "uses process"],
    [/\bconsole\s*\.\s*\w/, "uses console (use trace)"],
    [/\b__dirname\b|\b__filename\b/, "uses __dirname/__filename"],
  ];
  for (const [re, what] of rules) if (re.test(what.startsWith("imports") ? code : bare)) found.push(`${path}: ${what}`);
  for (const m of code.matchAll(/(?:^|[\s;])(?:import|export)\s[^;]*?\bfrom\s+["']([^"']+)["']|(?:^|[\s;])import\s+["']([^"']+)["']/g)) {
    const spec = m[1] ?? m[2];
    if (!DEVICE_SPECIFIERS.test(spec)) found.push(`${path}: imports "${spec}", which no device provides`);
  }
  return found;
}

test("device code uses no Node APIs and imports only device modules", () => {
  const all = [...files(join(root, "sdk")), ...files(join(root, "firmware"))];
  assert.ok(all.length > 10, "device code found");
  const problems = all.flatMap((f) => violations(relative(root, f), readFileSync(f, "utf8")));
  assert.deepEqual(problems, []);
});

test("the check itself catches each kind of violation", () => {
  const bad = [
    'import { readFileSync } from "node:fs";',
    "const x = require('fs');",
    "const b = Buffer.from('x');",
    "if (process.env.X) {}",
    "console.log(1);",
    'import mqtt from "mqtt";',
  ];
  for (const src of bad) assert.ok(violations("x.ts", src).length >= 1, src);
  assert.deepEqual(violations("ok.ts", '// Buffer.from in a comment\nimport Timer from "timer";\nimport { a } from "./a";\ntrace("process.env");'), []);
});
