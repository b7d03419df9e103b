// Board files and Moddable manifests: schema-valid, in sync, and every module they name exists.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { Ajv } from "ajv";
import { boardIds, loadBoard, checkBoard, BOARDS_DIR, type Board } from "../../tools/sim/board.ts";
import { manifestText, manifestPath, MANIFESTS_DIR } from "../../tools/boards/manifests.ts";
import { checkPrerequisites } from "../../tools/cli/commands/flash.ts";
import { REPO_ROOT, buildApp } from "../../tools/sim/image.ts";

const ajv = new Ajv({ allErrors: true });
const boardSchema = ajv.compile(JSON.parse(readFileSync(join(BOARDS_DIR, "board.schema.json"), "utf8")));

// The subset of Moddable's manifest format xsiot uses.
const manifestSchema = ajv.compile({
  type: "object",
  additionalProperties: false,
  properties: {
    "//": { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] },
    include: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] },
    modules: { type: "object", additionalProperties: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] } },
    preload: { type: "array", items: { type: "string" } },
    config: { type: "object" },
    build: { type: "object", additionalProperties: { type: "string" } },
    platforms: { type: "object", additionalProperties: { type: "object" } },
    error: { type: "string" },
    warning: { type: "string" },
    defines: { type: "object" },
    typescript: { type: "object" },
  },
});

test("there are at least three boards, each valid against the schema, with sourced power figures", () => {
  const ids = boardIds();
  for (const id of ["esp32-devkitc", "esp-wroom-32"]) assert.ok(ids.includes(id), id);
  assert.ok(ids.length >= 3);
  for (const id of ids) {
    const raw = JSON.parse(readFileSync(join(BOARDS_DIR, `${id}.json`), "utf8")) as Board;
    assert.ok(boardSchema(raw), `${id}: ${ajv.errorsText(boardSchema.errors)}`);
    assert.equal(raw.id, id, "file name matches id");
    assert.deepEqual(checkBoard(raw), [], id);
    const b = loadBoard(id);
    for (const [name, gpio] of Object.entries(b.pins)) if (/thermistor$|battery/.test(name)) assert.ok([32, 33, 34, 35, 36, 37, 38, 39].includes(gpio), `${id}: ${name} on ADC1`);
    assert.ok(b.rtcGpio.includes(b.pins.door), `${id}: the door contact can wake the chip`);
  }
});

test("the board schema rejects a figure without a source", () => {
  const raw = JSON.parse(readFileSync(join(BOARDS_DIR, "esp-wroom-32.json"), "utf8"));
  delete raw.power.deepSleepUa.source;
  assert.equal(boardSchema(raw), false);
});

test("manifests/ are generated from the board files and in sync", () => {
  for (const id of boardIds()) assert.equal(readFileSync(manifestPath(id), "utf8"), manifestText(loadBoard(id)), `run: xsiot flash --write-manifests (${id})`);
  assert.deepEqual(readdirSync(MANIFESTS_DIR).filter((f) => f.endsWith(".json")).sort(), boardIds().map((id) => `${id}.json`).sort());
});

function expandLocal(value: string, dir: string): string | undefined {
  if (/\$\((MODDABLE|MODULES|IO|BUILD|PLATFORM|SUBPLATFORM)\)/.test(value)) return undefined; // Moddable's own tree
  return resolve(dir, value.replace("$(XSIOT)", REPO_ROOT));
}

function walk(path: string, seen: Set<string>, problems: string[]): void {
  if (seen.has(path)) return;
  seen.add(path);
  if (!existsSync(path)) {
    problems.push(`${path}: missing`);
    return;
  }
  const m = JSON.parse(readFileSync(path, "utf8"));
  if (!manifestSchema(m)) problems.push(`${path}: ${ajv.errorsText(manifestSchema.errors)}`);
  const dir = dirname(path);
  const sections = [m, ...Object.entries(m.platforms ?? {}).filter(([p]) => p.startsWith("esp32")).map(([, s]) => s as typeof m)];
  for (const s of sections) {
    for (const inc of [s.include ?? []].flat()) {
      const p = expandLocal(inc, dir);
      if (p) walk(p, seen, problems);
    }
    for (const [spec, targets] of Object.entries(s.modules ?? {})) {
      for (const t of [targets as string | string[]].flat()) {
        const p = expandLocal(t, dir);
        if (!p) continue;
        const ok = p.endsWith("*") ? existsSync(p.slice(0, -1)) : [".ts", ".js", ".c"].some((ext) => existsSync(p + ext));
        if (!ok) problems.push(`${path}: module "${spec}" -> ${t} does not exist`);
      }
    }
  }
}

test("every module a manifest names exists (manifests/, firmware, sdk, native)", () => {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const id of boardIds()) walk(manifestPath(id), seen, problems);
  walk(join(REPO_ROOT, "sdk/manifest.json"), seen, problems);
  assert.deepEqual(problems, []);
  assert.ok([...seen].some((p) => p.endsWith("sdk/native/esp32/manifest.json")), "the native module is reached from the board manifests");
});

test("the firmware builds for the virtual ESP32 from the same manifest", () => {
  const app = buildApp(join(REPO_ROOT, "firmware"));
  assert.ok(app.info.modules.main);
  assert.ok(Object.keys(app.info.modules).some((m) => m.startsWith("xsiot/")), "SDK modules come in through the include");
});

test("xsiot flash names every missing prerequisite and runs nothing", () => {
  const checks = checkPrerequisites({ PATH: "/nonexistent" }, "esp-wroom-32");
  assert.deepEqual(checks.filter((c) => !c.ok).map((c) => c.what), ["MODDABLE is set", "IDF_PATH is set", "mcconfig is on PATH"]);
  assert.match(checkPrerequisites({}, "nope").find((c) => !c.ok && c.what.includes("nope"))!.fix, /esp-wroom-32/);
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin/xsiot.js"), "flash", "--board", "esp-wroom-32"], {
    env: { PATH: dirname(process.execPath) },
    encoding: "utf8",
  });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /MISSING MODDABLE is set/);
  assert.match(r.stdout, /MISSING IDF_PATH is set/);
  assert.match(r.stdout, /mcconfig -m -p esp32 .*manifests\/esp-wroom-32\.json/);
  assert.match(r.stderr, /3 prerequisites missing/);
});
