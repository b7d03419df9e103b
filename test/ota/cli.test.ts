// xsiot ota keys / sign / publish as a user runs them (child processes) against
// a local cloud, with a virtual ESP32 taking the update meanwhile.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import { verifyImage } from "../../tools/ota/signing.ts";
import { build, nodeApp, nodeDevice, runUntil, logsOf } from "./helpers.ts";

const bin = new URL("../../bin/xsiot.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "xsiot-ota-cli-"));
let cloud: Cloud;
before(async () => {
  cloud = await startCloud({ dir: join(dir, "cloud"), port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
});
after(async () => {
  await cloud.close();
  rmSync(dir, { recursive: true, force: true });
});

function xsiot(args: string[]): { done: Promise<{ code: number; out: string; err: string }> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  return { done: new Promise((r) => child.on("close", (code) => r({ code: code ?? -1, out, err }))) };
}

test("ota keys, sign, publish: the device updates, the CLI shows progress and a summary; errors are clear", { timeout: 60_000 }, async () => {
  const keys = await xsiot(["ota", "keys", "--dir", "keys"]).done;
  assert.equal(keys.code, 0, keys.err);
  const keyFile = join(dir, "keys/signer.key.pem");
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  const publicKey = readFileSync(join(dir, "keys/signer.pub.b64"), "utf8").trim();
  assert.match(keys.out, new RegExp(publicKey.replace(/[+/]/g, "\\$&")));
  assert.doesNotMatch(keys.out, /PRIVATE KEY/, "the secret never reaches the output");
  const again = await xsiot(["ota", "keys", "--dir", "keys"]).done;
  assert.equal(again.code, 1);
  assert.match(again.err, /refusing to replace a signing key/);

  const image = build("1.1.0");
  writeFileSync(join(dir, "app.bin"), image.bytes);
  const sig = await xsiot(["ota", "sign", "--key", keyFile, "app.bin"]).done;
  assert.equal(sig.code, 0, sig.err);
  assert.ok(verifyImage(readFileSync(join(dir, "keys/signer.cert.pem"), "utf8"), image.bytes, sig.out.trim()), "signature verifies with the certificate");

  const wrongVersion = await xsiot(["ota", "publish", "--things", "cli-1", "--image", "app.bin", "--version", "1.2.0", "--key", keyFile, "--cloud", cloud.httpUrl]).done;
  assert.equal(wrongVersion.code, 1);
  assert.match(wrongVersion.err, /app\.bin is version 1\.1\.0, not 1\.2\.0/);
  const noThing = await xsiot(["ota", "publish", "--things", "nobody", "--image", "app.bin", "--version", "1.1.0", "--key", keyFile, "--cloud", cloud.httpUrl]).done;
  assert.equal(noThing.code, 1);
  assert.match(noThing.err, /thing nobody: thing nobody not found/);
  const noKey = await xsiot(["ota", "publish", "--things", "cli-1", "--image", "app.bin", "--version", "1.1.0", "--key", "missing.pem", "--cloud", cloud.httpUrl]).done;
  assert.match(noKey.err, /signing key missing\.pem not found/);

  // Small windows over a slow link: the download lasts long enough for the CLI's polls to show it.
  const { device, events } = nodeDevice(cloud, build("1.0.0"), "cli-1", publicKey, { window: 4 });
  device.faults.latencyMs = 50;
  try {
    // Publish from the app folder (built at 1.1.0 by the CLI) while the device runs.
    const pub = xsiot(["ota", "publish", "--things", "cli-1", "--image", nodeApp, "--version", "1.1.0", "--key", keyFile, "--cloud", cloud.httpUrl]);
    let result: { code: number; out: string; err: string } | undefined;
    void pub.done.then((r) => (result = r));
    // The CLI builds and signs in real time while the node's virtual time runs fast: start the node's clock
    // once the job exists, so a loaded host cannot spend the node's virtual budget before there is a job.
    while (result === undefined && !cloud.jobs.listJobs().some((j) => j.targets.includes("cli-1"))) await new Promise((r) => setTimeout(r, 50));
    await runUntil(device, () => result !== undefined, 200_000, 250);
    assert.ok(result, logsOf(events).join("\n"));
    assert.equal(result.code, 0, result.out + result.err + logsOf(events).join("\n"));
    assert.match(result.out, /published 1\.1\.0 \(\d+ bytes\) as stream ota-1_1_0-\w+, job ota-1_1_0-\w+ for cli-1/);
    assert.match(result.out, /cli-1 +\[#+-*\] +\d+% download/, "a progress bar while downloading");
    assert.match(result.out, /thing +status +version +reason\n[- ]+\ncli-1 +SUCCEEDED +1\.1\.0/);
    assert.equal(device.runningImage?.version, "1.1.0");
  } finally {
    device.shutdown();
  }
  assert.ok(existsSync(keyFile));
});
