// The README's `xsiot cloud` / `things` / `shadow` / `jobs` commands (issue 13 item 7): the
// cloud runs as the CLI starts it (a child process), the other commands find it through
// <dir>/cloud.json as a user's shell would, and their effects are checked through the
// cloud's HTTP API; SIGINT stops the cloud cleanly and removes the state file.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { tempDir } from "../cloud/helpers.ts";

const root = new URL("../..", import.meta.url).pathname;
const xsiot = join(root, "bin/xsiot.js");
const tmp = tempDir("xsiot-cli-");
let cloud: ChildProcess;
let state: { httpUrl: string; url: string; tlsUrl: string; token?: string };
let cloudOut = "";

before(async () => {
  cloud = spawn(process.execPath, [xsiot, "cloud", "--dir", tmp.dir, "--port", "0", "--tls-port", "0", "--http-port", "0"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  // Wait for the cloud's own "cloud up" line, not a fixed delay.
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      cloudOut += d.toString();
      if (cloudOut.includes("cloud up")) resolve();
    };
    cloud.stdout!.on("data", onData);
    cloud.stderr!.on("data", (d: Buffer) => (cloudOut += d.toString()));
    cloud.once("exit", (code) => reject(new Error(`xsiot cloud exited (${code}) before it was up:\n${cloudOut}`)));
  });
  state = JSON.parse(readFileSync(join(tmp.dir, "cloud.json"), "utf8"));
});
after(() => {
  if (cloud.exitCode === null) cloud.kill("SIGKILL");
  tmp.cleanup();
});

/** Runs `xsiot <args> --dir <dir>` as a user would; returns stdout (asserts exit 0). */
function cli(...args: string[]): string {
  const r = spawnSync(process.execPath, [xsiot, ...args, "--dir", tmp.dir], { cwd: root, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `xsiot ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
/** GET on the cloud's HTTP API, a fresh connection each time (a kept-alive one can time out
 * on the server while a CLI child process runs). */
function get(path: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    request(state.httpUrl + path, { agent: false }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
    })
      .on("error", reject)
      .end();
  });
}
const api = async (path: string) => (await get(path)).json;

test("xsiot cloud: a loopback cloud with the plain and mTLS listeners and the HTTP API, found through cloud.json", async () => {
  assert.match(state.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  assert.match(state.tlsUrl, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(state.token, undefined, "no token on loopback");
  assert.equal((await api("/health")).ok, true);
});

test("xsiot things create/list/describe/delete change the registry", async () => {
  cli("things", "create", "cli-1", "--attributes", '{"site":"lab"}');
  assert.deepEqual((await api("/things/cli-1")).attributes, { site: "lab" });
  assert.match(cli("things", "list"), /cli-1\s+\{"site":"lab"\}/);
  assert.equal(JSON.parse(cli("things", "describe", "cli-1")).thingName, "cli-1");
  cli("things", "create", "cli-gone");
  cli("things", "delete", "cli-gone");
  assert.equal((await get("/things/cli-gone")).status, 404);
});

test("xsiot shadow update/get: desired state lands in the shadow, with a delta", async () => {
  cli("shadow", "update", "cli-1", "--desired", '{"config":{"sampleS":300}}');
  const doc = await api("/things/cli-1/shadow");
  assert.deepEqual(doc.state.desired, { config: { sampleS: 300 } });
  const printed = JSON.parse(cli("shadow", "get", "cli-1"));
  assert.deepEqual(printed.state.desired, { config: { sampleS: 300 } });
  assert.deepEqual(printed.state.delta, { config: { sampleS: 300 } }, "nothing reported yet: all of it is delta");
});

test("xsiot jobs create/list/describe: a job with an execution queued for the thing", async () => {
  assert.match(cli("jobs", "create", "reboot-1", "--targets", "cli-1", "--document", '{"operation":"reboot"}'), /created job reboot-1 for cli-1/);
  assert.match(cli("jobs", "list"), /^reboot-1\s+\S+\s+cli-1$/m);
  const { job, executions } = await api("/jobs/reboot-1");
  assert.deepEqual(job.document, { operation: "reboot" });
  assert.equal(executions[0].thingName, "cli-1");
  assert.equal(executions[0].status, "QUEUED");
  assert.equal(JSON.parse(cli("jobs", "describe", "reboot-1", "--thing", "cli-1")).status, "QUEUED");
});

test("xsiot cloud stops on SIGINT: exit 0, state file removed", async () => {
  const exited = new Promise<number | null>((r) => cloud.once("exit", (code) => r(code)));
  cloud.kill("SIGINT");
  assert.equal(await exited, 0, cloudOut);
  assert.equal(existsSync(join(tmp.dir, "cloud.json")), false);
});
