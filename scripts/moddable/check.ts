// npm run check:moddable — the project against Moddable's real toolchain.
//   MODDABLE=/path/to/moddable npm run check:moddable [-- --no-lin] [-- --verbose]
// esp32 (XS stages: tsc, xsc, xsl, mcrez; no ESP-IDF needed): every board manifest, the
// README's snippet and every examples/<app>; fails on any tsc/xsc/xsl error, on an import
// that names no linked module, on a board without otadata + two OTA slots or without the
// rollback sdkconfig. Prints the XS bytecode size of every SDK module.
// lin: the snippet and the examples build (mc.so) with every import linked.
// lin (Moddable's real runtime): test/moddable/runtime.test.ts runs the SDK's MQTT client,
// shadow client and jobs agent under Moddable's lin build against Mosquitto and xsiot cloud;
// this script runs those tests unless --no-lin.
import { spawnSync } from "node:child_process";
import { checkEsp32, checkLin, esp32Targets, linTargets, moduleSizes, relativeToRepo, toolchain, MODDABLE_VERSION_CHECKED, REPO } from "./lib.ts";

const tc = toolchain();
if (typeof tc === "string") {
  console.error(`check:moddable: ${tc}`);
  process.exit(2);
}
const verbose = process.argv.includes("--verbose");
const version = spawnSync("git", ["-C", tc.moddable, "describe", "--tags", "--always"], { encoding: "utf8" }).stdout.trim();
console.log(`Moddable at ${tc.moddable} (${version || "version unknown"}; checked against ${MODDABLE_VERSION_CHECKED})`);

let failed = 0;
let sizesPrinted = false;
for (const target of esp32Targets()) {
  const r = checkEsp32(tc, target);
  const status = r.problems.length ? "FAIL" : "ok";
  const slots = r.partitions.filter((p) => p.type === "app").map((p) => `${p.name} 0x${p.size.toString(16)}`);
  console.log(`${status.padEnd(4)} esp32 ${target.name.padEnd(28)} ${r.modules.length} modules, ${r.build.seconds.toFixed(1)} s${target.board ? `, ${slots.join(", ")}` : ""}  (${relativeToRepo(target.manifest)})`);
  for (const p of r.problems) console.log(`       ${p}`);
  if (r.problems.length) failed++;
  if (verbose && r.problems.length) console.log(r.build.log);
  if (!sizesPrinted && target.board && r.build.ok) {
    sizesPrinted = true;
    const sizes = moduleSizes(tc, r.modules);
    console.log(`\nXS bytecode per SDK/firmware-linked module (${target.name}; bytes of the CODE atom: release = xsc without -d, debug = as built with -d; file = whole .xsb)`);
    for (const s of sizes) console.log(`  ${s.name.padEnd(34)} ${String(s.releaseCode).padStart(7)} ${String(s.code).padStart(7)} ${String(s.file).padStart(7)}`);
    const sum = (f: (s: (typeof sizes)[0]) => number) => sizes.reduce((a, s) => a + f(s), 0);
    console.log(`  ${"total (" + sizes.length + " modules)".padEnd(34)} ${String(sum((s) => s.releaseCode)).padStart(7)} ${String(sum((s) => s.code)).padStart(7)} ${String(sum((s) => s.file)).padStart(7)}\n`);
  }
}

if (!process.argv.includes("--no-lin")) {
  for (const target of linTargets()) {
    const r = checkLin(tc, target);
    console.log(`${(r.problems.length ? "FAIL" : "ok").padEnd(4)} lin   ${target.name.padEnd(28)} ${r.modules.length} modules, ${r.build.seconds.toFixed(1)} s  (${relativeToRepo(target.manifest)})`);
    for (const p of r.problems) console.log(`       ${p}`);
    if (r.problems.length) failed++;
  }
  console.log("lin: the SDK on Moddable's runtime (test/moddable/runtime.test.ts)");
  const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", "test/moddable/runtime.test.ts"], { cwd: REPO, stdio: "inherit", env: tc.env });
  if (r.status !== 0) failed++;
}
if (failed) {
  console.log(`check:moddable: ${failed} failed`);
  process.exit(1);
}
console.log("check:moddable: all passed");
