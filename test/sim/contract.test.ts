// The virtual ESP32 offers an app exactly what the Moddable manifests it
// includes provide on esp32 (tools/sim/moddable/table.json), and freezes the
// built-ins as a Moddable build does; anything else fails as it would on the chip.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildApp, BuildError } from "../../tools/sim/image.ts";
import { TABLE } from "../../tools/sim/moddable/contract.ts";
import { appDir, simulate } from "./helpers.ts";

const panics = (r: Awaited<ReturnType<typeof simulate>>) => r.events.filter((e) => e.type === "panic").map((e) => String(e.message));

test("an app importing embedded:io/system fails at boot: Moddable has System only as a global", async () => {
  const r = await simulate("sysimport", 1000, { maxPanics: 1 });
  assert.deepEqual(r.logs, [], "main never ran");
  assert.match(panics(r)[0], /module "embedded:io\/system" not found/);
});

test("a global TextDecoder is a ReferenceError; the text/decoder module from Moddable's manifest works", async () => {
  const global = await simulate(buildApp(appDir("textglobal")), 1000, { maxPanics: 1 });
  assert.deepEqual(global.logs, []);
  assert.match(panics(global)[0], /ReferenceError: .*TextDecoder/);
  const viaModule = await simulate(buildApp(appDir("textglobal"), { config: { viaModule: true } }), 1000, { maxPanics: 1 });
  assert.deepEqual(viaModule.logs, ["decoded hi"]);
});

test("without modules/data/text/decoder/manifest.json the text/decoder import fails at boot", async () => {
  const r = await simulate("textnomanifest", 1000, { maxPanics: 1 });
  assert.deepEqual(r.logs, []);
  assert.match(panics(r)[0], /module "text\/decoder" not found/);
});

test("the override mistake throws TypeError on the frozen built-ins; a prototype name works; XS's ArrayBuffer.fromString and String.fromArrayBuffer behave as on Moddable", async () => {
  const r = await simulate("override", 1000, { maxPanics: 1 });
  assert.deepEqual(r.logs, ["defined Defined", "assign threw TypeError: Assigned: set name: not writable"]);
  const b = await simulate(buildApp(appDir("override"), { config: { probe: "builtins" } }), 1000, { maxPanics: 1 });
  assert.deepEqual(b.logs, [
    "frozen true",
    "patch refused TypeError",
    "fromString 3 h\u00e9",
    "unbound TypeError: new: not a constructor (in fromString)",
    "bad utf-8 TypeError: invalid UTF-8",
  ]);
});

test("Uint8Array.fromBase64 as XS has it on Moddable 8.2.3: whitespace skipped, last chunk loose, strict or left, base64url, SyntaxError and TypeError", async () => {
  const r = await simulate(buildApp(appDir("override"), { config: { probe: "base64" } }), 1000, { maxPanics: 1 });
  assert.deepEqual(r.logs, [
    "padded 104,101,108,108,111",
    "whitespace 104,101,108,108,111",
    "loose partial 104,101,108,108,111",
    "strict partial SyntaxError",
    "stop-before-partial 104,101,108",
    "loose bits 104,101,108,108,111",
    "strict bits SyntaxError",
    "url 251,255",
    "std in url SyntaxError",
    "bad character SyntaxError",
    "not a string TypeError",
    "options not an object TypeError",
    "bad alphabet TypeError",
  ]);
});

test("the app's globals are Moddable's: no TextEncoder, print, harden, setTimeout, issueCommand; System only with modules/io", async () => {
  const r = await simulate("probe", 1000);
  const seen = JSON.parse(r.logs[0]);
  assert.equal(seen.trace, "function");
  for (const name of ["TextEncoder", "TextDecoder", "print", "harden", "lockdown", "setTimeout", "setImmediate", "issueCommand", "System", "performance", "Base64", "gc"])
    assert.equal(seen.globals.includes(name), false, `${name} is not a global on Moddable esp32`);
  const io = await simulate("power", 100, { maxPanics: 1 });
  assert.equal(io.logs[0]?.startsWith("boot 1"), true, "power includes modules/io/manifest.json and uses the global System");
});

test("an import Moddable provides but the sim does not emulate says so; an unknown Moddable manifest is a build error", async () => {
  const r = await simulate("pwm", 1000, { maxPanics: 1 });
  assert.match(panics(r)[0], /module "embedded:io\/pwm" \(Moddable modules\/io\/pwm\/esp32\/_pwm\.js, from modules\/io\/pwm\/manifest\.json\) is not emulated/);
  assert.throws(
    () => buildApp(appDir("unknownmanifest")),
    (e: unknown) => e instanceof BuildError && /table\.json does not describe/.test(e.message),
  );
});

test("every table row names a Moddable manifest and source that exist (needs MODDABLE)", { skip: process.env.MODDABLE ? false : "MODDABLE is not set: the table is checked against a Moddable checkout" }, () => {
  const root = process.env.MODDABLE!;
  for (const [manifest, row] of Object.entries(TABLE.manifests)) {
    assert.ok(existsSync(join(root, manifest)), `${manifest} exists`);
    const text = readFileSync(join(root, row.via ?? manifest), "utf8");
    for (const inc of row.include ?? []) assert.ok(TABLE.manifests[inc], `${manifest} includes ${inc}, which has a row`);
    for (const [spec, r] of Object.entries({ ...row.modules, ...row.globals })) {
      assert.ok(existsSync(join(root, r.source.split(" ")[0])), `${spec}: ${r.source} exists`);
      if (spec.startsWith("embedded:") && row.modules && spec in row.modules)
        assert.ok(text.includes(JSON.stringify(spec)) || text.includes("$(PLATFORM)"), `${row.via ?? manifest} maps ${spec}`);
    }
  }
});
