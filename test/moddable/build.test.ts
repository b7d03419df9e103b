// The project against Moddable's real toolchain (npm run check:moddable does the same and
// prints sizes): every board manifest, the README snippet and each example build for esp32
// through mcconfig's XS stages with zero tsc/xsc/xsl errors, every import names a linked
// module, and boards get otadata + two OTA slots and the rollback sdkconfig.
// Skipped, with the reason, without MODDABLE pointing at a Moddable checkout with its tools built.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  toolchain, checkEsp32, checkLin, esp32Targets, linTargets, includedManifests, importsOf, resolveSpecifier, unresolvedImports, parsePartitions, otaProblems, readmeSnippet, REPO,
} from "../../scripts/moddable/lib.ts";
import { loadBoard } from "../../tools/sim/board.ts";

const tc = toolchain();
const skip = typeof tc === "string" ? tc : false;

// The checker's own parts, on inputs written here (no Moddable needed).
test("import extraction: static, re-export and literal dynamic imports; relative specifiers resolve against the module name", () => {
  const code = `import a from "embedded:io/socket/tcp"; import * as b from "./codec"; export { c } from "../cbor/encode"; export * from "timer"; const d = await import("mc/config"); import("x" + 1);`;
  assert.deepEqual(importsOf(code).sort(), ["../cbor/encode", "./codec", "embedded:io/socket/tcp", "mc/config", "timer"]);
  assert.equal(resolveSpecifier("xsiot/mqtt/client", "./codec"), "xsiot/mqtt/codec");
  assert.equal(resolveSpecifier("xsiot/mqtt/client", "../cbor/encode"), "xsiot/cbor/encode");
  assert.equal(resolveSpecifier("main", "./settings"), "settings");
  assert.equal(resolveSpecifier("main", "embedded:io/system"), "embedded:io/system");
});

test("partition check: Moddable's default table fails, an autosplit table passes", () => {
  // build/devices/esp32/xsProj-esp32/partitions.csv in Moddable 8.2.3, data rows.
  const factory = "nvs, data, nvs, 0x9000, 0x006000,\nphy_init, data, phy, 0xf000, 0x001000,\nfactory, app, factory, 0x10000, 0x3F0000,";
  assert.deepEqual(otaProblems(parsePartitions(factory)), ["no otadata partition (data, ota)", "0 OTA app slot(s), need 2 (ota_0, ota_1)"]);
  const ota = "nvs, data, nvs, 0x9000, 0x006000,\nphy_init, data, phy, 0xf000, 0x001000,\nota_0, app, ota_0, 0x10000, 0x1F0000,\nota_1, app, ota_1, , 0x1FE000,\notadata, data, ota, , 8192,";
  assert.deepEqual(otaProblems(parsePartitions(ota)), []);
  assert.equal(parsePartitions(ota).find((p) => p.name === "otadata")!.size, 8192);
});

test("the README snippet is a manifest that includes the SDK and a main that imports it", () => {
  const { manifest, main } = readmeSnippet();
  const m = JSON.parse(manifest);
  assert.ok(m.include.includes("$(XSIOT)/sdk/manifest.json"));
  assert.ok(m.include.includes("$(MODDABLE)/examples/manifest_base.json"), "Moddable io apps start from manifest_base.json");
  assert.match(main, /from "xsiot\//);
});

if (skip) test("esp32 XS stages of every board manifest, the README snippet and the examples; their lin builds", { skip }, () => {});
for (const target of typeof tc === "string" ? [] : esp32Targets()) {
  test(`esp32 XS stages (tsc, xsc, xsl, mcrez): ${target.name}`, { skip, timeout: 300_000 }, () => {
    const r = checkEsp32(tc as Exclude<typeof tc, string>, target);
    assert.deepEqual(r.problems, [], `${target.manifest}\n${r.problems.join("\n")}`);
    assert.ok(r.modules.some((m) => m.name.startsWith("xsiot/")), "SDK modules are linked");
    if (target.board) {
      // The real slots must hold what the virtual ESP32's board file promises an image may be.
      const board = loadBoard(target.name.replace(/^board-/, ""));
      for (const slot of ["ota_0", "ota_1"]) {
        const real = r.partitions.find((p) => p.subtype === slot)!;
        assert.ok(real.size >= board.flash.partitions[slot], `${slot}: 0x${real.size.toString(16)} on the chip < ${board.flash.partitions[slot]} in boards/${board.id}.json`);
      }
    }
  });
}

for (const target of typeof tc === "string" ? [] : linTargets()) {
  test(`lin build (mc.so), imports linked: ${target.name}`, { skip, timeout: 300_000 }, () => {
    const r = checkLin(tc as Exclude<typeof tc, string>, target);
    assert.deepEqual(r.problems, [], `${target.manifest}\n${r.problems.join("\n")}`);
    assert.ok(r.build.library, "mc.so");
  });
}

test("without MODDABLE the Moddable checks are skipped with the reason", () => {
  const reason = toolchain({ PATH: "/usr/bin" });
  assert.equal(typeof reason, "string");
  assert.match(reason as string, /MODDABLE is not set/);
  assert.match(toolchain({ MODDABLE: join(REPO, "nonexistent") }) as string, /not built/);
});

test("an import that no included manifest links is reported (xsl would link it anyway)", { skip }, () => {
  // The esp32 build of the first board: its linked table has no "embedded:io/system" (typings only in Moddable).
  const r = checkEsp32(tc as Exclude<typeof tc, string>, esp32Targets()[0]);
  const names = new Set(r.modules.map((m) => m.name));
  assert.ok(!names.has("embedded:io/system"));
  assert.ok(names.has("embedded:io/socket/tcp"));
  const fake = r.modules.find((m) => m.name === "main");
  assert.ok(fake, "main is linked");
  const probe = { ...fake!, name: "probe", source: join(REPO, "test/moddable/fixtures/imports-system.js") };
  assert.deepEqual(unresolvedImports([...r.modules, probe]).unresolved.filter((u) => u.module === "probe"), [{ module: "probe", specifier: "embedded:io/system" }]);
  assert.ok(readFileSync(probe.source, "utf8").includes("embedded:io/system"));
});

// The virtual ESP32 offers an app the rows of tools/sim/moddable/table.json for the Moddable manifests
// it includes. What mcconfig really links for a board must agree with it: a row the real build does
// not link is something the sim would let the firmware use and the chip would not have.
test("the virtual ESP32's contract table offers only modules mcconfig really links for the boards", { skip }, () => {
  const table = JSON.parse(readFileSync(join(REPO, "tools/sim/moddable/table.json"), "utf8"));
  const t = tc as Exclude<typeof tc, string>;
  const board = esp32Targets().find((x) => x.board)!;
  const r = checkEsp32(t, board);
  assert.ok(r.build.ok, r.problems.join("\n"));
  const linked = new Set(r.modules.map((m) => m.name));
  const prefix = t.moddable.replace(/\/$/, "") + "/";
  const seen = new Set<string>();
  const offered = new Map<string, string>();
  const walk = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    const row = table.manifests[path];
    if (!row) return;
    for (const inc of row.include ?? []) walk(inc);
    for (const name of Object.keys(row.modules ?? {})) offered.set(name, path);
  };
  for (const inc of table.always?.include ?? []) walk(inc);
  for (const m of includedManifests(r.build.tmpDir)) if (m.startsWith(prefix)) walk(m.slice(prefix.length));
  assert.ok(offered.size > 0, "the table names modules for the manifests the board includes");
  const notLinked = [...offered].filter(([name]) => !linked.has(name)).map(([name, from]) => `${name} (table: ${from})`);
  assert.deepEqual(notLinked, [], `${board.name}: offered by the sim's table but not linked by mcconfig`);
});
