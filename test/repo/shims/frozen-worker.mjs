// Worker for frozen-errors.test.ts: loads every SDK error class, then freezes the
// built-in error prototypes as a Moddable build does, constructs each class and
// posts what happened. A worker, because Node's own internals assign `name` on
// their errors and cannot keep running with frozen built-ins.
import { parentPort, workerData } from "node:worker_threads";
import { register } from "node:module";

import { register as registerTsx } from "tsx/esm/api";

registerTsx();
register(new URL("./device-stubs.mjs", import.meta.url));
globalThis.trace = () => {};
const { jobs } = workerData;

const loaded = [];
for (const job of jobs) loaded.push([job, (await import(job.file))[job.name]]);

for (const E of [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError]) {
  Object.freeze(E.prototype);
  Object.freeze(E);
}

let mistake = "";
try {
  class Assigns extends Error {
    constructor() {
      super("x");
      this.name = "Assigns";
    }
  }
  new Assigns();
} catch (e) {
  mistake = e instanceof TypeError ? "TypeError" : String(e);
}

const outcomes = loaded.map(([job, C]) => {
  if (!job.args) return { where: job.where, threw: "no constructor arguments in ARGS: add them" };
  try {
    const err = new C(...job.args);
    return { where: job.where, name: err.name, text: String(err), own: Object.hasOwn(err, "name") };
  } catch (e) {
    return { where: job.where, threw: e instanceof Error ? e.message : "non-error thrown" };
  }
});
parentPort.postMessage({ mistake, outcomes });
