// `xsiot flash --runtime espruino`: builds the bundle and the app, then sends
// them with the `espruino` command-line tool (npm package "espruino") into the
// board's Storage, where they survive resets and deep sleep:
//   xsiot      -> the SDK module; require("xsiot") loads it from flash (on ESP32
//                 Storage is memory-mapped, so function code stays in flash)
//   .bootcde   -> the reference app, run at every boot (every wake from deep sleep)
//   xsiot.json -> the app's settings (--settings FILE)
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface EspruinoFlashOptions {
  root: string;
  port?: string;
  settings?: string;
  dryRun?: boolean;
  log?(line: string): void;
  error?(line: string): void;
}

export function espruinoCommand(root: string, port: string | undefined, settings: string | undefined): string[] {
  const dist = join(root, "espruino", "dist");
  const argv = ["--no-ble", "-p", port ?? "<serial port>", "--storage", `xsiot:${join(dist, "xsiot.js")}`, "--storage", `.bootcde:${join(dist, "app.js")}`];
  if (settings) argv.push("--storage", `xsiot.json:${settings}`);
  return argv;
}

export function flashEspruino(o: EspruinoFlashOptions): number {
  const log = o.log ?? console.log, error = o.error ?? console.error;
  if (o.settings) {
    try {
      const s = JSON.parse(readFileSync(o.settings, "utf8"));
      if (typeof s.thing !== "string" || typeof s.host !== "string") throw new Error("needs at least \"thing\" and \"host\"");
    } catch (e) {
      error(`xsiot flash: --settings ${o.settings}: ${(e as Error).message}`);
      return 1;
    }
  }
  const argv = espruinoCommand(o.root, o.port, o.settings);
  log(`would build: npm run build:espruino (rollup -c espruino/rollup.config.mjs)`);
  log(`would send:  espruino ${argv.join(" ")}`);
  if (!o.settings) log("             (no --settings FILE: the board keeps the xsiot.json it has; the app needs one to run)");
  if (!o.port) {
    error("\nxsiot flash: --port is required for --runtime espruino (the board's serial port, e.g. /dev/ttyUSB0); nothing was sent.");
    return 1;
  }
  if (o.dryRun) return 0;
  const b = spawnSync(process.execPath, [join(o.root, "node_modules/rollup/dist/bin/rollup"), "-c", join(o.root, "espruino/rollup.config.mjs"), "--silent"], { cwd: o.root, stdio: "inherit" });
  if (b.status !== 0) return b.status ?? 1;
  const tool = join(o.root, "node_modules", ".bin", "espruino");
  if (!existsSync(tool)) {
    error("xsiot flash: the espruino command-line tool is missing: npm install");
    return 1;
  }
  const r = spawnSync(tool, argv, { cwd: o.root, stdio: "inherit" });
  return r.status ?? 1;
}
