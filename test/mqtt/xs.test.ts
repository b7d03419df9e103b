// The MQTT codec and session on the real XS engine (xsnap-worker from @agoric/xsnap).
import { test } from "node:test";
import assert from "node:assert/strict";
import { build } from "esbuild";
import { XsWorker, xsnapWorkerPath } from "../../tools/sim/xsnap.ts";

let available = true;
try {
  xsnapWorkerPath();
} catch {
  available = false;
}

test("MQTT codec, fuzz and session run on XS", { skip: available ? false : "xsnap-worker not built" }, async () => {
  const bundle = await build({
    entryPoints: [new URL("./xs-entry.ts", import.meta.url).pathname],
    bundle: true, write: false, format: "iife", target: "es2022", platform: "neutral",
  });
  const lines: string[] = [];
  const worker = new XsWorker({ onCommand: () => new Uint8Array(0), onPrint: (l) => lines.push(l) });
  try {
    await worker.evaluate(bundle.outputFiles[0].text);
  } finally {
    worker.kill();
  }
  const out = JSON.parse(lines[lines.length - 1]);
  assert.equal(out.fuzzError, undefined);
  assert.equal(out.fuzz.iterations, 5000);
  assert.equal(out.mismatches, 0);
  assert.equal(out.roundTrips, 870);
  assert.deepEqual(out.sessionSent, [1, 3]);
  assert.equal(out.sessionResolved, true);
});
