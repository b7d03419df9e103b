// External-broker mode: the cloud's services attach to a real Mosquitto by URL.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { Cloud } from "../../tools/cloud/index.ts";
import { Device, tempDir, testCloud } from "./helpers.ts";

const MOSQUITTO = "/usr/sbin/mosquitto";
const skip = existsSync(MOSQUITTO) ? false : `${MOSQUITTO} is not installed`;
const tmp = tempDir();
let broker: ChildProcess | undefined;
let cloud: Cloud | undefined;
let url = "";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

before(async () => {
  if (skip) return;
  const port = await freePort();
  const conf = join(tmp.dir, "mosquitto.conf");
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  broker = spawn(MOSQUITTO, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  url = `mqtt://127.0.0.1:${port}`;
  // Mosquitto logs "... running" once its listeners are open: wait for that line, not a delay.
  let log = "";
  await new Promise<void>((resolve, reject) => {
    broker!.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
      if (/ running\b/.test(log)) resolve();
    });
    broker!.once("exit", (code) => reject(new Error(`mosquitto exited (${code}): ${log}`)));
  });
  cloud = await testCloud({ dir: tmp.dir, brokerUrl: url });
});

after(async () => {
  await cloud?.close();
  broker?.kill("SIGTERM");
  tmp.cleanup();
});

test("shadow and jobs over Mosquitto", { skip }, async () => {
  assert.equal(cloud!.bus.kind, "external");
  assert.equal(cloud!.tlsUrl, undefined);
  const dev = await Device.connect(url, { clientId: "ext-1", protocolVersion: 5 });
  await dev.client.subscribeAsync("$aws/things/ext-1/#", { qos: 1 });
  const delta = dev.next("$aws/things/ext-1/shadow/update/delta");
  const u = await dev.request("$aws/things/ext-1/shadow/update", { state: { desired: { fan: 2 } }, clientToken: "m1" });
  assert.equal(u.topic, "$aws/things/ext-1/shadow/update/accepted");
  assert.equal(u.json.clientToken, "m1");
  assert.deepEqual((await delta).json.state, { fan: 2 });
  const bad = await dev.request("$aws/things/ext-1/shadow/update", "{x");
  assert.equal(bad.json.code, 400, JSON.stringify(bad));

  cloud!.registry.create("ext-1");
  await cloud!.jobs.createJob({ jobId: "ext-job", targets: ["ext-1"], document: { op: "reboot" } });
  const s = await dev.request("$aws/things/ext-1/jobs/start-next", {});
  assert.equal(s.json.execution.jobId, "ext-job");
  const done = await dev.request("$aws/things/ext-1/jobs/ext-job/update", { status: "SUCCEEDED", expectedVersion: s.json.execution.versionNumber });
  assert.equal(done.topic, "$aws/things/ext-1/jobs/ext-job/update/accepted");
  await dev.end();
});
