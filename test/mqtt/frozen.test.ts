// A Moddable build freezes the built-ins (Error.prototype.name is not writable):
// the MQTT error must still construct, with its name (issue 11: `this.name = ...`
// threw a TypeError, the "override mistake", on every construction). Run in a
// fresh realm whose Error.prototype is frozen (freezing Node's own breaks Node).
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { transformSync } from "esbuild";

test("MqttProtocolError constructs under a frozen Error.prototype", () => {
  const src = readFileSync(new URL("../../sdk/mqtt/error.ts", import.meta.url), "utf8");
  const { code } = transformSync(src, { loader: "ts", format: "cjs", target: "es2022" });
  const ctx = vm.createContext({ module: { exports: {} as Record<string, unknown> } });
  vm.runInContext("Object.freeze(Error.prototype); exports = module.exports;", ctx);
  vm.runInContext(code, ctx);
  const out = vm.runInContext(
    `const e = new module.exports.MqttProtocolError("bad", 0x82);
     [e instanceof Error, e.name, e.reasonCode, String(e)]`,
    ctx,
  ) as unknown[];
  assert.deepEqual([...out], [true, "MqttProtocolError", 0x82, "MqttProtocolError: bad"]);
});
