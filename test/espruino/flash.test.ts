// `xsiot flash --runtime espruino` without a board: says what it would send and refuses clearly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");

test("flash --runtime espruino without --port prints the espruino command and exits 1", () => {
  const r = spawnSync(process.execPath, [path.join(root, "bin/xsiot.js"), "flash", "--runtime", "espruino"], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /would send: {2}espruino --no-ble -p <serial port> --storage xsiot:\S+xsiot\.js --storage \.bootcde:\S+app\.js/);
  assert.match(r.stderr, /--port is required for --runtime espruino.*nothing was sent/);
});
