// A Target is where the firmware under test runs: the virtual ESP32, or a
// flashed board on a serial port. Scenarios talk to the device only through
// this interface and assert through the local cloud, so the same scenario
// runs on both.
import type { DeviceEvent } from "./trace.ts";

export interface TargetOptions {
  /** The cloud the device must talk to (MQTT host/port, CA). */
  cloud: { host: string; port: number; tlsPort?: number; caPem?: string };
  /** Device identity and settings (thing name, serial number, claim certificate...). */
  settings: Record<string, unknown>;
}

export interface Target {
  readonly kind: "sim" | "serial";
  /** Starts the firmware (boot from power-on). */
  start(options: TargetOptions): Promise<void>;
  /** Resolves with the first event matching, or rejects after timeoutMs (virtual for sim, real for serial). */
  waitFor(match: (e: DeviceEvent) => boolean, timeoutMs: number, what: string): Promise<DeviceEvent>;
  /** Every event so far. */
  readonly events: readonly DeviceEvent[];
  /** Hardware reset (EN pin), as after a crash. */
  reset(): Promise<void>;
  /** Power cut for offMs; sim only (a bench supply switch would do it on a board). */
  powerCut?(offMs: number): Promise<void>;
  /** GPIO stimulus (door contact); sim drives the scenario, a board needs a relay. */
  setInput?(pin: number, level: 0 | 1): Promise<void>;
  stop(): Promise<void>;
}

export class TargetTimeout extends Error {}

/** The events a target has seen, and waits for the ones still to come. */
export class EventLog {
  readonly events: DeviceEvent[] = [];
  private waiters: { match: (e: DeviceEvent) => boolean; resolve: (e: DeviceEvent) => void }[] = [];

  push(e: DeviceEvent): void {
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(e)) return true;
      w.resolve(e);
      return false;
    });
  }

  /** The first event matching, seen or to come; rejects with timeout() once expired() says so (polled). */
  wait(match: (e: DeviceEvent) => boolean, expired: () => boolean, timeout: () => Error): Promise<DeviceEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const poll = setInterval(() => {
        if (!expired()) return;
        clearInterval(poll);
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(timeout());
      }, 5);
      const done = (e: DeviceEvent) => {
        clearInterval(poll);
        resolve(e);
      };
      this.waiters.push({ match, resolve: done });
    });
  }
}
