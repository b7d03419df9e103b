// A flashed ESP32 board on a serial port: reads the firmware's JSON-line
// trace, and resets it through DTR/RTS the way esptool does on boards with
// the usual auto-reset circuit (RTS drives EN through a transistor, DTR drives GPIO0).
import { SerialPort } from "serialport";
import type { Target, TargetOptions } from "../target.ts";
import { EventLog, TargetTimeout } from "../target.ts";
import { TraceParser, type DeviceEvent } from "../trace.ts";

export interface SerialLike {
  on(event: "data", cb: (chunk: Buffer) => void): unknown;
  set(options: { dtr?: boolean; rts?: boolean }, cb: (err: Error | null) => void): unknown;
  close(cb?: (err: Error | null) => void): unknown;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** esptool's hard reset: hold EN low ~100 ms with GPIO0 high, then release into the app. */
export async function hardReset(port: SerialLike, holdMs = 100): Promise<void> {
  const set = (o: { dtr: boolean; rts: boolean }) => new Promise<void>((res, rej) => port.set(o, (e) => (e ? rej(e) : res())));
  await set({ dtr: false, rts: true }); // EN low, IO0 high
  await sleep(holdMs);
  await set({ dtr: false, rts: false }); // EN high: boots the app (not the download mode)
}

/** Opens a port at 115200 baud (the ESP32 console), failing with the port's own message. */
export function openPort(path: string): Promise<SerialLike> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    port.open((err) => (err ? reject(new Error(`cannot open ${path}: ${err.message}`)) : resolve(port)));
  });
}

export class SerialTarget implements Target {
  readonly kind = "serial" as const;
  private readonly log = new EventLog();
  get events(): readonly DeviceEvent[] {
    return this.log.events;
  }
  private port: SerialLike | undefined;
  readonly parser = new TraceParser((e) => this.log.push(e));

  constructor(readonly path: string, private readonly open: (path: string) => Promise<SerialLike> = openPort) {}

  async start(_options: TargetOptions): Promise<void> {
    // A board's settings (thing name, cloud address, certificates) are flashed with the firmware
    // (xsiot flash) or provisioned by claim; here we only attach and reset it.
    this.port = await this.open(this.path);
    this.port.on("data", (chunk) => this.parser.push(chunk));
    await hardReset(this.port);
  }

  waitFor(match: (e: DeviceEvent) => boolean, timeoutMs: number, what: string): Promise<DeviceEvent> {
    const deadline = Date.now() + timeoutMs;
    return this.log.wait(match, () => Date.now() > deadline, () => new TargetTimeout(`${this.path}: no ${what} within ${timeoutMs} ms`));
  }

  async reset(): Promise<void> {
    if (!this.port) throw new Error("serial target not started");
    await hardReset(this.port);
  }

  async stop(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port) await new Promise<void>((res) => port.close(() => res()));
  }
}
