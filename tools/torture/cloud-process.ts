// Runs tools/torture/cloud-child.ts as a child process on fixed ports (the first
// start picks free ones; restarts reuse them, as a device's settings hold them).
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export interface CloudPorts {
  mqtt: number;
  mqtts: number;
  http: number;
}

const CHILD = new URL("./cloud-child.ts", import.meta.url).pathname;

// Cloud processes still running when the suite exits (Ctrl-C, a crash) are killed with it.
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

export class CloudProcess {
  ports: CloudPorts | undefined;
  readonly errors: string[] = [];
  readonly unhandled: string[] = [];
  starts = 0;
  kills = 0;
  restarts = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  /** token: the HTTP API's bearer token (XSIOT_TOKEN of the child). */
  constructor(readonly dir: string, private readonly token?: string) {}

  get up(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<CloudPorts> {
    const p = this.ports;
    const args = ["--import", "tsx", CHILD, "--dir", this.dir, "--port", String(p?.mqtt ?? 0), "--tls-port", String(p?.mqtts ?? 0), "--http-port", String(p?.http ?? 0)];
    // A restart may find its port still held for a moment (TIME_WAIT is not an issue for listeners, a slow exit is): retry a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.spawnOnce(args);
      } catch (e) {
        if (attempt >= 20 || !/EADDRINUSE/.test(String(e))) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private spawnOnce(args: string[]): Promise<CloudPorts> {
    const env = this.token ? { ...process.env, XSIOT_TOKEN: this.token } : process.env;
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
    this.starts++;
    live.add(child);
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    return new Promise<CloudPorts>((resolve, reject) => {
      let ready = false;
      this.exited = new Promise<void>((r) =>
        child.once("exit", (code, signal) => {
          live.delete(child);
          if (this.child === child) this.child = undefined;
          if (!ready) reject(new Error(`cloud exited before it was ready (${code ?? signal}): ${stderr.trim().split("\n").slice(-5).join(" | ")}`));
          r();
        }),
      );
      createInterface({ input: child.stdout! }).on("line", (line) => {
        let m: { ready?: CloudPorts; error?: string; unhandled?: string };
        try {
          m = JSON.parse(line);
        } catch {
          return;
        }
        if (m.ready) {
          ready = true;
          this.child = child;
          this.ports = m.ready;
          resolve(m.ready);
        }
        if (m.error) this.errors.push(m.error);
        if (m.unhandled) this.unhandled.push(m.unhandled);
      });
    });
  }

  /** Clean stop: SIGTERM, the cloud closes its listeners and database. */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c) return;
    c.kill("SIGTERM");
    await this.exited;
  }

  /** Crash: SIGKILL, nothing flushed or closed. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c) return;
    this.kills++;
    c.kill("SIGKILL");
    await this.exited;
  }

  async restart(kill: boolean): Promise<void> {
    if (kill) await this.kill();
    else {
      this.restarts++;
      await this.stop();
    }
    await this.start();
  }
}
