// Compile-checks sdk/native/esp32/esp32.c with the host C compiler against the
// minimal stub headers in test/native/stubs (no ESP-IDF here), and checks that the
// C, the JS bindings and the TypeScript typings describe the same API surface.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const src = join(root, "sdk/native/esp32/esp32.c");
const stubs = join(root, "test/native/stubs");
const cc = process.env.CC ?? "cc";
const hasCc = spawnSync(cc, ["--version"]).status === 0;
const hasNm = spawnSync("nm", ["--version"]).status === 0;

// The exact ESP-IDF / libc functions the module may call. Adding one is a review event.
const IDF_API = [
  "esp_deep_sleep_start", "esp_err_to_name", "esp_ota_get_next_update_partition", "esp_ota_get_running_partition",
  "esp_ota_get_state_partition", "esp_ota_mark_app_invalid_rollback_and_reboot", "esp_ota_mark_app_valid_cancel_rollback",
  "esp_reset_reason", "esp_sleep_disable_wakeup_source", "esp_sleep_enable_ext0_wakeup", "esp_sleep_enable_ext1_wakeup",
  "esp_sleep_enable_timer_wakeup", "esp_sleep_get_ext1_wakeup_status", "esp_sleep_get_wakeup_cause", "memcpy",
];

function compile(extra: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-native-"));
  const obj = join(dir, "esp32.o");
  const r = spawnSync(cc, ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I", stubs, ...extra, "-c", src, "-o", obj], { encoding: "utf8" });
  return { r, obj, dir };
}

test("esp32.c compiles cleanly (-Wall -Wextra -Werror) against the stub headers", { skip: !hasCc && "no host C compiler" }, () => {
  const { r, dir } = compile();
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
});

test("the stubs are strict: a misspelt IDF call or a wrong argument type fails the build", { skip: !hasCc && "no host C compiler" }, () => {
  const bad = spawnSync(cc, ["-std=gnu11", "-Wall", "-Werror", "-I", stubs, "-fsyntax-only", "-x", "c", "-"], {
    input: '#include "esp_sleep.h"\nvoid f(void) { esp_sleep_enable_ext1_wakeup(1, 5, 6); }\n',
    encoding: "utf8",
  });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /too many arguments/);
});

test("esp32.c calls exactly the reviewed ESP-IDF API and defines exactly the bound XS functions", { skip: !(hasCc && hasNm) && "no cc/nm" }, () => {
  const { r, obj, dir } = compile();
  assert.equal(r.status, 0, r.stderr);
  const undef = spawnSync("nm", ["-u", obj], { encoding: "utf8" }).stdout.split("\n").map((l) => l.trim().split(/\s+/).pop() ?? "").filter(Boolean);
  const defined = spawnSync("nm", ["-g", "--defined-only", obj], { encoding: "utf8" }).stdout.split("\n").map((l) => l.trim().split(/\s+/).pop() ?? "").filter(Boolean);
  rmSync(dir, { recursive: true, force: true });
  const platform = undef.filter((s) => !s.startsWith("xsStub")).map((s) => s.replace(/^_/, "")).sort();
  assert.deepStrictEqual(platform, [...IDF_API].sort());
  const js = readFileSync(join(root, "sdk/native/esp32/esp32.js"), "utf8");
  const bound = [...js.matchAll(/@\s*"([A-Za-z0-9_]+)"/g)].map((m) => m[1]).sort();
  assert.deepStrictEqual(defined.map((s) => s.replace(/^_/, "")).sort(), bound);
});

test("esp32.js exports exactly what sdk/typings/esp32.d.ts declares", () => {
  const js = readFileSync(join(root, "sdk/native/esp32/esp32.js"), "utf8");
  const dts = readFileSync(join(root, "sdk/typings/esp32.d.ts"), "utf8");
  const names = (text: string) => [...text.matchAll(/^\s*export\s+(?:function|const)\s+([A-Za-z0-9_]+)/gm)].map((m) => m[1]).sort();
  assert.deepStrictEqual(names(js), names(dts));
  const otaJs = /ota\s*=\s*Object\.freeze\(\{([^}]*)\}/.exec(js)?.[1] ?? "";
  const otaDts = /ota:\s*\{([\s\S]*?)\n\s*\};/.exec(dts)?.[1] ?? "";
  const keys = (t: string, re: RegExp) => [...t.matchAll(re)].map((m) => m[1]).sort();
  assert.deepStrictEqual(keys(otaJs, /([A-Za-z]+):/g), keys(otaDts, /^\s*([A-Za-z]+)\(/gm));
  // Every string the C returns is a member of the declared union types.
  const c = readFileSync(join(root, "sdk/native/esp32/esp32.c"), "utf8");
  const union = (name: string) => new Set([...(new RegExp(`type ${name} =([^;]*);`).exec(dts)?.[1] ?? "").matchAll(/"([^"]+)"/g)].map((m) => m[1]));
  const all = new Set([...union("WakeCause"), ...union("ResetReason"), ...union("OtaState")]);
  const returned = [...c.matchAll(/(?:cause|reason|name) = "([^"]+)"/g)].map((m) => m[1]);
  assert.ok(returned.length >= 14);
  for (const s of returned) assert.ok(all.has(s), `C returns "${s}", not in the typings`);
  for (const s of all) assert.ok(returned.includes(s), `typings declare "${s}", the C never returns it`);
});
