// What an emulated module's host side may use of the virtual ESP32: the
// clock, energy, storage, the scenario, deliveries to the app, and the few
// power and boot-loader actions that VirtualDevice (device.ts) owns.
import type { Board } from "../board.ts";
import type { DeviceStorage, OtaData } from "../storage.ts";
import type { EnergyMeter, EnergyState } from "../energy.ts";
import type { Scenario } from "../scenario.ts";
import type { SocketFaults } from "../sockets.ts";
import type { ImageInfo } from "../image.ts";

export type Reply = { json: Record<string, unknown>; payload?: Uint8Array };
/** A host command from XS: the message's JSON fields and its raw payload bytes. */
export type Op = (m: Record<string, any>, payload: Uint8Array | undefined) => Reply;

export const ok = (json: Record<string, unknown> = {}, payload?: Uint8Array): Reply => ({ json, payload });

/** An error with the type XS should rethrow (Moddable's natives throw Error, RangeError or TypeError; XS's built-ins also SyntaxError). */
export class XsError extends Error {
  constructor(
    message: string,
    readonly errorType: "Error" | "TypeError" | "RangeError" | "SyntaxError" = "Error",
  ) {
    super(message);
  }
}

export interface SleepRequest {
  us: number | null;
  ext0: { pin: number; level: number } | null;
  ext1: { pins: number[]; mode: string } | null;
  /** Compute units of the delivery that ends in the sleep call (it reports no meters). */
  compute: number;
}

export interface DeviceContext {
  readonly name: string;
  readonly board: Board;
  readonly storage: DeviceStorage;
  readonly energy: EnergyMeter;
  readonly faults: SocketFaults;
  readonly scenario: Scenario;
  /** Virtual ms since the simulation started. */
  readonly now: number;
  /** Virtual wall clock, ms since the epoch. */
  readonly epochNow: number;
  /** Virtual ms at which the current run ends (the horizon for scenario edges). */
  readonly endAt: number;
  /** Real ms to wait for an answer to bytes the device wrote before virtual time may jump anyway. */
  readonly replyWaitMs: number;
  /** Real ms a burst of incoming segments may take to arrive before the app hears of it (DeviceOptions.settleMs). */
  readonly settleMs: number;
  trace(type: string, fields?: Record<string, unknown>): void;
  spend(state: EnergyState, ms: number): void;
  awakeState(): EnergyState;
  /** Queues a delivery to the app; `prepare` runs just before it is delivered (undefined: dropped). */
  post(message: Record<string, unknown>, prepare?: () => Record<string, unknown> | undefined): void;
  addTimer(at: number, id: number, kind: "timer" | "gpio" | "host", repeat?: number, action?: () => void): void;
  removeTimer(kind: "timer" | "gpio" | "host", id: number): void;
  /** Network activity (a real event) the virtual clock must not jump over. */
  noteNetActivity(): void;
  /** Turns the radio on (a Wi-Fi join, cold or cached) if it is off. */
  radioUp(): void;
  // -- power and boot loader (VirtualDevice)
  sleep(request: SleepRequest): void;
  restart(): void;
  retained(): Uint8Array;
  resetInfo(): { resetReason: string; wakeCause: string; wakePin: number };
  running(): { partition: "ota_0" | "ota_1"; info: ImageInfo };
  readImage(partition: "ota_0" | "ota_1"): ImageInfo | undefined;
  otaData(): OtaData;
  writeOtaData(data: OtaData): void;
  rollback(): void;
}

/** The host side of one emulated module. */
export interface HostModule {
  ops: Record<string, Op>;
  /** The worker stopped (sleep, reset, power cut): drop per-boot state. */
  reset?(): void;
  /** Real work in flight that the virtual clock must wait for (sockets). */
  busy?(): boolean;
  /** Any open resource that may receive real events (the clock waits on the network). */
  open?(): number;
  /** A network fault: cut every open connection. */
  cut?(): void;
}

export interface ModuleFile {
  /** Its XS side: `function (sim) {...}`, installed into the boot script. */
  xs: string;
  host?: (dev: DeviceContext) => HostModule;
}
