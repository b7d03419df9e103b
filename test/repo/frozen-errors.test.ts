// Every error class the SDK exports must be constructible where the built-ins
// are frozen, as in a Moddable build (Error.prototype.name read-only): a
// constructor that assigns `this.name` throws a TypeError there (the override
// mistake). A worker loads each class found by scanning sdk/, freezes the
// error prototypes, then constructs them.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("../..", import.meta.url).pathname;

// Constructor arguments per class. A class missing here fails the test, so a
// new error class gets checked too.
const ARGS: Record<string, unknown[]> = {
  CborError: ["bad byte", 3],
  SensorError: ["crc", "checksum mismatch"],
  ShadowError: [404, "not found"],
  JsonRefused: ["too deep"],
  JobsError: ["VersionMismatch", "stale"],
  Utf8Error: ["lead", 2, 0xff],
  ProvisioningError: [{ kind: "timeout", step: "certificate", message: "no answer" }, 1, 1000],
  ProvisioningMessageError: ["bad field"],
  MqttProtocolError: ["malformed", 0x81],
  QueueError: ["full"],
};

function sources(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (n.endsWith(".ts") && !n.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** [module path, class name] of every `export class X extends Error` in sdk/. */
function errorClasses(): [string, string][] {
  const found: [string, string][] = [];
  for (const f of sources(join(root, "sdk"))) {
    for (const m of readFileSync(f, "utf8").matchAll(/^export class (\w+) extends Error\b/gm)) found.push([f, m[1]]);
  }
  return found;
}

type Outcome = { where: string; name?: string; text?: string; own?: boolean; threw?: string };
let result: { mistake: string; outcomes: Outcome[] };

before(async () => {
  const jobs = errorClasses().map(([file, name]) => ({ where: `${relative(root, file)}: ${name}`, file, name, args: ARGS[name] }));
  const worker = new Worker(new URL("./shims/frozen-worker.mjs", import.meta.url), { workerData: { jobs } });
  result = await new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`worker exited (${code}) without a result`)));
  });
  await worker.terminate();
});

test("the frozen built-ins reproduce the override mistake", () => {
  assert.equal(result.mistake, "TypeError");
});

test("every SDK error class constructs with frozen built-ins and names itself", () => {
  assert.ok(result.outcomes.length >= 8, `found ${result.outcomes.length} error classes`);
  for (const o of result.outcomes) {
    const name = o.where.slice(o.where.lastIndexOf(" ") + 1);
    assert.equal(o.threw, undefined, o.where);
    // A class that leaves `name` alone inherits "Error": safe, only less helpful.
    assert.ok(o.name === name || o.name === "Error", `${o.where}: name ${o.name}`);
    assert.ok(o.text!.startsWith(`${o.name}: `), `${o.where}: ${o.text}`);
    assert.equal(o.own, false, `${o.where}: name is on the prototype, not each instance`);
  }
});
