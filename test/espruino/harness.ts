// Runs the Espruino bundle on Espruino's own interpreter (its Linux build):
// each "boot" is one process in a directory whose espruino.flash is the
// device's Storage. The module is a Storage file named "xsiot", loaded by
// require("xsiot") as on an ESP32.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");
export const ESPRUINO = process.env.ESPRUINO;
/** node:test skip value. */
export const skipNoEspruino: false | string = ESPRUINO ? false : "ESPRUINO is not set (path to an Espruino Linux build, e.g. /opt/espruino/bin/espruino)";

let built: { dir: string; bundle: string; app: string } | undefined;

/** Builds the bundle and the app once per test process, into a temp dir (the checkout's espruino/dist is left alone). */
export function build(): { dir: string; bundle: string; app: string } {
  if (built) return built;
  const dir = mkdtempSync(path.join(os.tmpdir(), "xsiot-espruino-"));
  const r = spawnSync(process.execPath, [path.join(root, "node_modules/rollup/dist/bin/rollup"), "-c", path.join(root, "espruino/rollup.config.mjs"), "--silent"], {
    cwd: root,
    env: { ...process.env, XSIOT_ESPRUINO_OUT: dir },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`espruino build failed: ${r.stderr}`);
  built = { dir, bundle: readFileSync(path.join(dir, "xsiot.js"), "utf8"), app: readFileSync(path.join(dir, "app.js"), "utf8") };
  return built;
}

export const doublePath = path.join(root, "espruino/port/linux-double.js");

export interface Run {
  lines: string[];
  /** Resolves with the first line matching, or rejects when the process ends first. */
  waitFor(re: RegExp): Promise<string>;
  kill(): void;
  done: Promise<{ code: number | null; lines: string[] }>;
}

/** Starts one Espruino process on `script` in `cwd` (its Storage); stdout split into lines, prompts stripped. */
export function run(cwd: string, script: string, opts: { timeoutMs?: number; bin?: string } = {}): Run {
  const file = path.join(cwd, `run-${Date.now()}-${Math.random().toString(36).slice(2)}.js`);
  writeFileSync(file, script);
  const child = spawn(opts.bin || ESPRUINO!, [file], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve(l: string): void; reject(e: Error): void }[] = [];
  let buf = "";
  let ended = false;
  const onLine = (raw: string): void => {
    const l = raw.replace(/\x1b\[[0-9;]*[A-Za-z]|\r/g, "").replace(/^>+/, "").trimEnd();
    if (!l) return;
    lines.push(l);
    for (const w of waiters.slice()) if (w.re.test(l)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(l);
    }
  };
  child.stdout.setEncoding("latin1");
  child.stdout.on("data", (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  child.stderr.on("data", (d) => lines.push(`stderr: ${d}`));
  // A safety net for a hung interpreter, not a pacing delay: every test waits on output events.
  const guard = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60000);
  const done = new Promise<{ code: number | null; lines: string[] }>((resolve) => {
    child.on("exit", (code) => {
      clearTimeout(guard);
      if (buf) onLine(buf);
      ended = true;
      for (const w of waiters.splice(0)) w.reject(new Error(`espruino ended before ${w.re}:\n${lines.join("\n")}`));
      resolve({ code, lines });
    });
  });
  return {
    lines,
    done,
    kill: () => child.kill("SIGKILL"),
    waitFor(re: RegExp): Promise<string> {
      const hit = lines.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      if (ended) return Promise.reject(new Error(`espruino ended before ${re}:\n${lines.join("\n")}`));
      return new Promise((resolve, reject) => waiters.push({ re, resolve, reject }));
    },
  };
}

/** Writes Storage files (what `xsiot flash --runtime espruino` puts on a device) in one process. */
export async function flash(cwd: string, files: Record<string, string>, bin?: string): Promise<void> {
  let js = 'var S=require("Storage");';
  for (const [name, body] of Object.entries(files)) js += `if(!S.write(${JSON.stringify(name)},${JSON.stringify(body)}))throw new Error("flash full");`;
  js += 'print("FLASHED");';
  const r = run(cwd, js, { bin });
  await r.waitFor(/^FLASHED/);
  await r.done;
}

export function tempDevice(): string {
  return mkdtempSync(path.join(os.tmpdir(), "xsiot-espdev-"));
}
