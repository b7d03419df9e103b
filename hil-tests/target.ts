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
