// Host driver for xsnap-worker (Moddable XS built by @agoric/xsnap).
// The worker speaks netstrings: fd 3 carries commands to it, fd 4 replies.
//   to worker:   e<js>  evaluate     ?<bytes>  call globalThis.handleCommand
//                /<bytes> answer to an issueCommand     q  quit
//   from worker: .<meters>\x01<reply>  done     !<text>  uncaught exception
//                ?<bytes>  synchronous issueCommand: the worker blocks until we answer
// We drive the binary directly: the package's JS wrapper pulls in @endo/init,
// which locks down the whole Node process.
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { existsSync } from "node:fs";

export interface Meters {
  compute: number;
  allocate: number;
  currentHeapCount: number;
}

export type CommandHandler = (request: Uint8Array) => Uint8Array | Promise<Uint8Array>;

export class CrankError extends Error {}

export class WorkerExit extends Error {
  constructor(readonly code: number | null, readonly signal: NodeJS.Signals | null, readonly stderr: string) {
    super(`xsnap-worker exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim().split("\n").slice(-3).join(" / ")}` : ""}`);
  }
}

/** Exit codes of xsnap-worker (as listed by @agoric/xsnap's api.js). */
export const WorkerExitCode: Record<number, string> = {
  1: "bad argument usage",
  2: "I/O error",
  11: "not enough memory",
  12: "stack overflow",
  15: "unhandled exception",
  16: "property name space exhausted",
  17: "too much computation",
};
export const TOO_MUCH_COMPUTATION = 17;

let workerPath: string | undefined;
export function xsnapWorkerPath(): string {
  if (workerPath) return workerPath;
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve("@agoric/xsnap/package.json"));
  for (const flavor of ["release", "debug"]) {
    const p = join(pkg, "xsnap-native/xsnap/build/bin/lin", flavor, "xsnap-worker");
    if (existsSync(p)) return (workerPath = p);
  }
  throw new Error(
    `xsnap-worker is not built: run "npm install" (it compiles Moddable XS; the build must be allowed by "allowScripts" in package.json)`,
  );
}

function netstring(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const head = new TextEncoder().encode(`${n}:`);
  const out = new Uint8Array(head.length + n + 1);
  out.set(head, 0);
  let o = head.length;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  out[o] = 0x2c; // ','
  return out;
}

export interface XsWorkerOptions {
  /** Compute units a single delivery may use before the worker aborts (a watchdog). */
  computeLimit?: number;
  onCommand: CommandHandler;
  /** Worker stdout lines (XS print). */
  onPrint?: (line: string) => void;
  /** Start the engine from this heap snapshot (written by writeSnapshot) instead of an empty machine. */
  snapshot?: string;
}

export class XsWorker {
  private readonly proc: ChildProcess;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { resolve: (r: { reply: Uint8Array; meters: Meters }) => void; reject: (e: Error) => void } | undefined;
  private stderr = "";
  private exitError: WorkerExit | undefined;
  readonly exited: Promise<WorkerExit>;

  constructor(private readonly options: XsWorkerOptions) {
    const args = ["xsiot-device"];
    if (options.computeLimit) args.push("-l", String(options.computeLimit));
    if (options.snapshot) args.push("-r", options.snapshot);
    this.proc = spawn(xsnapWorkerPath(), args, { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
    let line = "";
    this.proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      line += chunk;
      let i;
      while ((i = line.indexOf("\n")) >= 0) {
        options.onPrint?.(line.slice(0, i));
        line = line.slice(i + 1);
      }
    });
    this.proc.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    const from = this.proc.stdio[4] as NodeJS.ReadableStream;
    from.on("data", (d: Buffer) => this.onData(d));
    (this.proc.stdio[3] as NodeJS.WritableStream).on("error", () => {});
    this.exited = new Promise((resolve) => {
      this.proc.once("exit", (code, signal) => {
        this.exitError = new WorkerExit(code, signal, this.stderr);
        this.pending?.reject(this.exitError);
        this.pending = undefined;
        resolve(this.exitError);
      });
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  private write(parts: Uint8Array[]): void {
    (this.proc.stdio[3] as NodeJS.WritableStream).write(netstring(parts));
  }

  private onData(d: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, d]) : d;
    for (;;) {
      const colon = this.buffer.indexOf(0x3a);
      if (colon < 0) return;
      const n = Number(this.buffer.subarray(0, colon).toString("latin1"));
      if (!Number.isSafeInteger(n) || colon > 10) {
        this.kill();
        return;
      }
      if (this.buffer.length < colon + n + 2) return;
      const msg = this.buffer.subarray(colon + 1, colon + 1 + n);
      this.buffer = this.buffer.subarray(colon + n + 2);
      void this.onMessage(new Uint8Array(msg));
    }
  }

  private async onMessage(msg: Uint8Array): Promise<void> {
    const kind = msg[0];
    if (kind === 0x3f /* ? */) {
      let answer: Uint8Array;
      try {
        answer = await this.options.onCommand(msg.subarray(1));
      } catch (e) {
        answer = new TextEncoder().encode(String(e));
      }
      if (!this.exitError) this.write([Uint8Array.of(0x2f /* / */), answer]);
      return;
    }
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    if (kind === 0x2e /* . */) {
      const sep = msg.indexOf(1);
      let meters: Meters = { compute: 0, allocate: 0, currentHeapCount: 0 };
      if (sep > 0) meters = JSON.parse(new TextDecoder().decode(msg.subarray(1, sep)));
      p.resolve({ reply: msg.subarray(sep < 0 ? 1 : sep + 1), meters });
    } else if (kind === 0x21 /* ! */) {
      p.reject(new CrankError(new TextDecoder().decode(msg.subarray(1))));
    } else {
      p.reject(new Error(`xsnap protocol error: unexpected message "${String.fromCharCode(kind)}"`));
    }
  }

  private crank(parts: Uint8Array[]): Promise<{ reply: Uint8Array; meters: Meters }> {
    if (this.exitError) return Promise.reject(this.exitError);
    if (this.pending) return Promise.reject(new Error("xsnap: a delivery is already running"));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.write(parts);
    });
  }

  /** Evaluates a script in the worker's global scope; rejects with CrankError on an uncaught exception. */
  evaluate(code: string) {
    return this.crank([new TextEncoder().encode("e" + code)]);
  }

  /** Writes the engine's whole heap to a file, from which new workers can start (options.snapshot). */
  writeSnapshot(path: string) {
    return this.crank([new TextEncoder().encode("w" + path)]);
  }

  /** Calls globalThis.handleCommand(ArrayBuffer) inside the worker. */
  deliver(bytes: Uint8Array) {
    return this.crank([Uint8Array.of(0x3f), bytes]);
  }

  /** Stops the worker at once, wherever it is: a power cut. */
  kill(): void {
    if (!this.exitError) this.proc.kill("SIGKILL");
  }
}
