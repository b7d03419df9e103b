// npm run hil -- --target sim | serial:/dev/ttyUSB0
// Runs the HIL scenarios against one target. The target reaches the scenarios
// through XSIOT_HIL_TARGET (see hil-tests/select.ts).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { target: { type: "string", default: "sim" } } });
const target = values.target!;
if (target !== "sim" && !/^serial:.+/.test(target)) {
  console.error(`hil: --target must be "sim" or "serial:<port>", got "${target}"`);
  process.exit(2);
}
const dir = new URL("./scenarios/", import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => f.endsWith(".test.ts")).map((f) => dir + f);
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], {
  stdio: "inherit",
  env: { ...process.env, XSIOT_HIL_TARGET: target },
});
process.exit(r.status ?? 1);
