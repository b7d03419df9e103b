// xsiot sim from the command line: JSON trace, several devices, clear errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
function sim(...args: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-cli-"));
  return spawnSync(process.execPath, [join(root, "bin/xsiot.js"), "sim", "--dir", dir, ...args], { cwd: root, encoding: "utf8", timeout: 60_000 });
}

test("--json: the engine first, one JSON object per line, a summary per device, exit 0", () => {
  const r = sim("--app", "test/sim/apps/hello", "--duration", "2h", "--json", "--devices", "2");
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines[0].type, "engine");
  assert.equal(lines[0].engine, "Moddable XS");
  assert.match(lines[0].xs, /^\d+\.\d+\.\d+$/);
  assert.equal(lines[0].inside.process, "undefined");
  const boots = lines.filter((l) => l.type === "boot");
  assert.equal(boots.filter((b) => b.device === "dev-1").length, 8);
  assert.equal(boots.filter((b) => b.device === "dev-2").length, 8);
  const summaries = lines.filter((l) => l.type === "summary");
  assert.deepEqual(summaries.map((s) => s.device).sort(), ["dev-1", "dev-2"]);
  assert.ok(summaries.every((s) => s.energy.totalMah > 0 && s.energy.projectedYears > 0));
});

test("readable trace by default", () => {
  const r = sim("--app", "test/sim/apps/hello", "--duration", "20m");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^engine: Moddable XS/);
  assert.match(r.stdout, /2026-01-01 00:00:00\.090 dev-1\s+boot\s+resetReason=power-on/);
  assert.match(r.stdout, /energy: .* mAh, average .* uA/);
});

test("bad input: a scenario error names file and line; unknown board; bad duration; app that does not compile", () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-scn-"));
  const file = join(dir, "bad.json");
  writeFileSync(file, '{\n  "adc": {\n    "36": { "type": "wobble" }\n  }\n}\n');
  let r = sim("--app", "test/sim/apps/hello", "--duration", "1h", "--scenario", file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, "\\.")}:3: unknown signal type "wobble"`));
  writeFileSync(file, '{ "adc": { "36": 5, } ');
  r = sim("--app", "test/sim/apps/hello", "--scenario", file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.json:1: /);
  r = sim("--board", "esp8266");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown board "esp8266" \(known: .*esp-wroom-32/);
  r = sim("--duration", "forever");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--duration must be/);
  r = sim("--app", "test/sim/apps/badts", "--duration", "1h");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /test\/sim\/apps\/badts\/main\.ts:2:\d+: /);
});
