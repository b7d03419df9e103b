// The console page is browser code: it has its own tsconfig (DOM types, no Node),
// which `tsc -p tsconfig.json` leaves out, so it is checked here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;

test("console page type-checks with DOM types", () => {
  const r = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tools/console/web/tsconfig.json")], { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
