import { SensorError } from "./error";
import type { WakeSource } from "./wake";
import type { Timers } from "../timer/timers";

/** What DebouncedInput needs of an `embedded:io/digital` instance. */
export interface DigitalLike {
  read(): number;
  close(): void;
}

/** The `embedded:io/digital` class shape (constructor + mode/edge constants); inject a fake in tests. */
export interface DigitalClass {
  new (options: { pin: number; mode: number; edge?: number; onReadable?: () => void }): DigitalLike;
  readonly Input: number;
  readonly InputPullUp: number;
  readonly InputPullDown: number;
  readonly Rising: number;
  readonly Falling: number;
}

/** One-shot timers: `deviceTimers` (Moddable's `timer` module) on the device, a fake clock in tests. */
export type TimerLike = Timers;

export type Edge = "rising" | "falling";

export interface DebouncedInputOptions {
  Digital: DigitalClass;
  timers: TimerLike;
  pin: number;
  pull?: "up" | "down" | "none";
  /** The level must hold this long after the last change before it counts. Default 20 ms. */
  debounceMs?: number;
  /** Which stable transitions call onEdge. Default "both". */
  edges?: Edge | "both";
  onEdge?: (level: 0 | 1, edge: Edge) => void;
  /** Level that should wake the chip from deep sleep (see wakeSource and wakeOptions()). */
  wakeLevel?: 0 | 1;
}

/**
 * A GPIO input debounced by time: every hardware edge restarts a timer; when
 * the line has been quiet for debounceMs, the level is read and, if it differs
 * from the last stable level, onEdge fires once.
 */
export class DebouncedInput {
  readonly pin: number;
  private readonly io: DigitalLike;
  private readonly timers: TimerLike;
  private readonly debounceMs: number;
  private readonly edges: Edge | "both";
  private readonly onEdge?: (level: 0 | 1, edge: Edge) => void;
  private readonly wake?: 0 | 1;
  private stable: 0 | 1;
  private timer: unknown;
  private closed = false;

  constructor(o: DebouncedInputOptions) {
    const pull = o.pull ?? "none";
    if (!Number.isInteger(o.pin) || o.pin < 0 || o.pin > 39) throw new SensorError("config", `GPIO ${o.pin} does not exist on ESP32`);
    if (pull !== "none" && o.pin >= 34) throw new SensorError("config", `GPIO ${o.pin} is input-only without internal pull resistors; use pull "none" and an external resistor`);
    if (pull !== "none" && pull !== "up" && pull !== "down") throw new SensorError("config", `pull ${String(pull)} must be up, down or none`);
    const ms = o.debounceMs ?? 20;
    if (!(Number.isFinite(ms) && ms >= 0 && ms <= 10000)) throw new SensorError("config", `debounceMs ${ms} must be 0..10000`);
    const edges = o.edges ?? "both";
    if (edges !== "both" && edges !== "rising" && edges !== "falling") throw new SensorError("config", `edges ${String(edges)} must be rising, falling or both`);
    if (o.wakeLevel !== undefined && o.wakeLevel !== 0 && o.wakeLevel !== 1) throw new SensorError("config", "wakeLevel must be 0 or 1");
    this.pin = o.pin;
    this.timers = o.timers;
    this.debounceMs = ms;
    this.edges = edges;
    this.onEdge = o.onEdge;
    this.wake = o.wakeLevel;
    const D = o.Digital;
    const mode = pull === "up" ? D.InputPullUp : pull === "down" ? D.InputPullDown : D.Input;
    this.io = new D({ pin: o.pin, mode, edge: D.Rising | D.Falling, onReadable: () => this.changed() });
    this.stable = this.io.read() ? 1 : 0;
  }

  /** Last debounced level. */
  get level(): 0 | 1 {
    return this.stable;
  }

  /** The deep-sleep wake description of this input, if wakeLevel was given. */
  get wakeSource(): WakeSource | undefined {
    return this.wake === undefined ? undefined : { pin: this.pin, level: this.wake };
  }

  private changed(): void {
    if (this.closed) return;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => this.settle(), this.debounceMs);
  }

  private settle(): void {
    this.timer = undefined;
    if (this.closed) return;
    const v: 0 | 1 = this.io.read() ? 1 : 0;
    if (v === this.stable) return;
    this.stable = v;
    const edge: Edge = v ? "rising" : "falling";
    if (this.onEdge && (this.edges === "both" || this.edges === edge)) this.onEdge(v, edge);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.io.close();
  }
}
