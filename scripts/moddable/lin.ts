// Runs an app on Moddable's real lin runtime: builds it with `mcconfig -d -m -p lin -t build`
// and hosts its mc.so headless with scripts/moddable/host.c. Commands go in as JSON lines on
// stdin (the app's screen.onMessage), events come out as the JSON lines the app traces.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { buildApp, CACHE, REPO, type BuildResult, type Toolchain } from "./lib.ts";

/** Compiles the headless host once (again when host.c changes); returns its path. */
export function linHost(tc: Toolchain): string {
  const src = join(REPO, "scripts/moddable/host.c");
  const out = join(CACHE, "xsiot-lin-host");
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return out;
  mkdirSync(CACHE, { recursive: true });
  const glib = spawnSync("pkg-config", ["--cflags", "--libs", "glib-2.0"], { encoding: "utf8" });
  if (glib.status !== 0) throw new Error(`pkg-config glib-2.0: ${glib.stderr}`);
  const cc = spawnSync("cc", ["-O1", "-DmxLinux=1", `-I${join(tc.moddable, "build/simulators/modules")}`, src, ...glib.stdout.trim().split(/\s+/), "-ldl", "-o", out], { encoding: "utf8" });
  if (cc.status !== 0) throw new Error(`cc host.c: ${cc.stderr}`);
  return out;
}

export function buildLinApp(tc: Toolchain, manifest: string, name: string): BuildResult {
  return buildApp(tc, manifest, "lin", name);
}

export interface LinEvent {
  ev: string;
  [k: string]: any;
}

/** One running mc.so. */
export class LinApp {
  readonly events: LinEvent[] = [];
  /** Lines that are not JSON events (XS diagnostics, aborts). */
  readonly other: string[] = [];
  private child: ChildProcess;
  private waiters: { pred: (e: LinEvent) => boolean; resolve: (e: LinEvent) => void; reject: (e: Error) => void }[] = [];
  exited: number | null = null;

  constructor(host: string, library: string) {
    this.child = spawn(host, [library], { stdio: ["pipe", "pipe", "pipe"] });
    const lines = createInterface({ input: this.child.stdout! });
    lines.on("line", (line) => {
      if (line.startsWith("{")) {
        let e: LinEvent;
        try {
          e = JSON.parse(line);
        } catch {
          this.other.push(line);
          return;
        }
        this.events.push(e);
        this.waiters = this.waiters.filter((w) => (w.pred(e) ? (w.resolve(e), false) : true));
      } else if (!line.startsWith("instruments")) this.other.push(line);
    });
    this.child.stderr!.on("data", (d) => this.other.push(String(d)));
    this.child.on("exit", (code, signal) => {
      this.exited = code ?? (signal ? 128 : -1);
      for (const w of this.waiters) w.reject(new Error(`the lin app exited (${code ?? signal}) ${this.other.join(" | ")}`));
      this.waiters = [];
    });
  }

  send(cmd: Record<string, unknown>): void {
    this.child.stdin!.write(JSON.stringify(cmd) + "\n");
  }

  /** The first event (already seen or still to come) matching pred. */
  waitFor(pred: (e: LinEvent) => boolean, what = "event", ms = 20_000): Promise<LinEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    if (this.exited !== null) return Promise.reject(new Error(`the lin app has exited; waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events)} ${this.other.join(" | ")}`)), ms);
      this.waiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)), reject: (e) => (clearTimeout(timer), reject(e)) });
    });
  }

  /** Ends the process: "SIGKILL" drops its sockets without a DISCONNECT, as a power cut would. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.exited !== null) return;
    const done = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill(signal);
    await done;
  }
}
