#!/usr/bin/env node
// npm test: type-check host and device code, check device code uses no Node
// APIs, then run every test file under test/ and hil-tests/ with node:test.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
function collect(dir, out = []) {
  let names;
  try { names = readdirSync(join(root, dir)); } catch { return out; }
  for (const name of names.sort()) {
    const p = join(dir, name);
    if (statSync(join(root, p)).isDirectory()) collect(p, out);
    else if (/\.test\.ts$/.test(name)) out.push(p);
  }
  return out;
}

const filter = process.argv[2];
if (!filter) {
  run("npx", ["tsc", "-p", "tsconfig.json"]);
  run("npx", ["tsc", "-p", "tsconfig.device.json"]);
}
const files = [...collect("test"), ...collect("hil-tests")].filter((f) => !filter || f.includes(filter));
run(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files]);
