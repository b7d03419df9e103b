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

// Modules the device may import: its own SDK, relative paths, and what Moddable provides
// (ecdsa, curve, ecp: modules/crypt/tls_common.json; text/*: modules/data/text/).
const DEVICE_SPECIFIERS = /^(\.{1,2}\/|xsiot\/|embedded:|timer$|crypt$|ecdsa$|curve$|ecp$|mc\/config$|text\/(en|de)coder$)/;

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
  // Moddable freezes Error.prototype after preload (documentation/xs/preload.md): assigning the
  // inherited read-only `name` throws. Define it on the class's prototype instead.
  if (/\bextends\s+\w*Error\b/.test(bare) && /\bthis\s*\.\s*name\s*=(?!=)/.test(bare))
    rules.push([/./, "assigns this.name in an error class (throws where Error.prototype is frozen: define name on the prototype)"]);
  for (const [re, what] of rules) if (re.test(what.startsWith("imports") ? code : bare)) found.push(`${path}: ${what}`);
  const specs: string[] = [];
  for (const m of code.matchAll(/(?:^|[\s;])(?:import|export)\s[^;]*?\bfrom\s+["']([^"']+)["']|(?:^|[\s;])import\s+["']([^"']+)["']/g)) {
    const spec = m[1] ?? m[2];
    specs.push(spec);
    if (spec === "embedded:io/system") found.push(`${path}: imports "embedded:io/system", a typings name only (System is a global: Moddable modules/io/system/system.js)`);
    else if (!DEVICE_SPECIFIERS.test(spec)) found.push(`${path}: imports "${spec}", which no device provides`);
  }
  // Moddable has no TextEncoder/TextDecoder globals, only the modules text/encoder and text/decoder.
  for (const [name, spec] of [["TextEncoder", "text/encoder"], ["TextDecoder", "text/decoder"]]) {
    if (new RegExp(`\\b${name}\\b`).test(bare.replace(/^\s*import\s[^;]*;/gm, "")) && !specs.includes(spec))
      found.push(`${path}: uses a global ${name} (Moddable has none: use xsiot/text/utf8, or import it from "${spec}")`);
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
    'import System from "embedded:io/system";',
    "const d = new TextDecoder();",
    'class E extends Error { constructor() { super("x"); this.name = "E"; } }',
  ];
  for (const src of bad) assert.ok(violations("x.ts", src).length >= 1, src);
  assert.deepEqual(violations("ok.ts", '// Buffer.from in a comment\nimport Timer from "timer";\nimport { a } from "./a";\ntrace("process.env");'), []);
  assert.deepEqual(violations("ok.ts", 'import TextDecoder from "text/decoder";\nconst d = new TextDecoder();\nif (a.name === b.name) trace("same");'), []);
});
