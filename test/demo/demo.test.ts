// npm start's demo, run to a fixed virtual duration: the cloud comes up, three
// nodes provision by claim and uplink, and the view shows them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;

test("xsiot demo: three provisioned nodes uplink; the view and the next commands are printed", () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-demo-"));
  const r = spawnSync(process.execPath, [join(root, "bin/xsiot.js"), "demo", "--speed", "0", "--duration", "7h", "--dir", dir, "--http-port", "0"], { cwd: root, encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const last = r.stdout.slice(r.stdout.lastIndexOf("virtual time"));
  for (const n of [1, 2, 3]) {
    const row = last.split("\n").find((l) => l.startsWith(`node-${n} `));
    assert.ok(row, `row for node-${n}`);
    const cols = row!.split(/\s{2,}/);
    assert.equal(cols[1], `sensor-SN-00${n}`, "provisioned by claim");
    assert.equal(cols[2], "1.0.0");
    assert.ok(Number(cols[6]) >= 28, `~29 readings in 7 h: ${row}`);
    assert.ok(Number(cols[7]) >= 2, `uplinks at boot and at 6 h: ${row}`);
    assert.match(cols[10], /^\d+\.\d$/, "a battery projection");
  }
  assert.match(r.stdout, /^web console: http:\/\/127\.0\.0\.1:\d+\/$/m, "the console URL, printed first and with every snapshot");
  assert.ok(r.stdout.indexOf("web console:") < r.stdout.indexOf("virtual time"), "the URL comes before the first snapshot");
  assert.match(last, /npx xsiot shadow update sensor-SN-001/);
  assert.match(last, /npx xsiot ota publish/);
  assert.equal(r.stdout.includes("PRIVATE KEY"), false, "no key material in the output");
});
