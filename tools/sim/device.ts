// One virtual ESP32: an XS worker running the app, and the host world around
// it. VirtualDevice keeps the virtual clock and timers, the power states and
// the energy meter, RTC memory and the boot loader, and routes the app's host
// commands to the emulated Moddable modules, one file each in moddable/
// (their XS side and host side together; moddable/table.json says which
// Moddable manifest provides each).
//
// Time: the host owns a virtual clock. CPU work advances it by the XS compute
// meter (deterministic); while the device waits on a real socket it advances
// with real time; when nothing is in flight it jumps to the next timer, so a
// day of 15-minute wakes takes seconds.
import { fromBase64 } from "./moddable/base64.ts";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TraceMap, originalPositionFor } from "@jridgewell/trace-mapping";
import { XsWorker, CrankError, WorkerExit, WorkerExitCode, TOO_MUCH_COMPUTATION, xsnapWorkerPath, type Meters } from "./xsnap.ts";
import { DeviceStorage, PowerCut, StorageError, type OtaData } from "./storage.ts";
import { defaultFaults, type SocketFaults } from "./sockets.ts";
import { EnergyMeter, type EnergyState, type EnergyReport } from "./energy.ts";
import type { Board } from "./board.ts";
import { emptyScenario, type Scenario } from "./scenario.ts";
import { Sht3x, Bme280, type I2CPeripheral } from "./i2c.ts";
import { parseImage, type BuiltApp, type ImageInfo } from "./image.ts";
import { fitSnapshotHeap } from "./snapshot-heap.ts";
import { boardConfig } from "../boards/manifests.ts";
import { baseSurface } from "./moddable/contract.ts";
import { XsError, type DeviceContext, type HostModule, type Op, type Reply, type SleepRequest } from "./moddable/context.ts";
import * as timerModule from "./moddable/timer.ts";
import * as timeModule from "./moddable/time.ts";
import * as systemModule from "./moddable/system.ts";
import * as tcpModule from "./moddable/tcp.ts";
import * as tlsModule from "./moddable/tls.ts";
import * as analogModule from "./moddable/analog.ts";
import * as digitalModule from "./moddable/digital.ts";
import * as i2cModule from "./moddable/i2c.ts";
import * as keyValueModule from "./moddable/key-value.ts";
import * as flashModule from "./moddable/flash.ts";
import * as updateModule from "./moddable/update.ts";
import * as cryptModule from "./moddable/crypt.ts";
import * as ecdsaModule from "./moddable/ecdsa.ts";
import * as textModule from "./moddable/text.ts";
import * as nativeEsp32Module from "./moddable/native-esp32.ts";

/** The emulated modules, in install order (system uses timer; tls extends tcp; update uses flash). */
const MODULE_FILES = [
  timerModule,
  timeModule,
  systemModule,
  tcpModule,
  tlsModule,
  analogModule,
  digitalModule,
  i2cModule,
  keyValueModule,
  flashModule,
  updateModule,
  cryptModule,
  ecdsaModule,
  textModule,
  nativeEsp32Module,
];
const BOOT_SCRIPT = readFileSync(new URL("./runtime/boot.js", import.meta.url), "utf8").replace(
  "/*MODULES*/",
  MODULE_FILES.map((f) => `(${f.xs})(sim);`).join("\n"),
);
export const RETAINED_BYTES = nativeEsp32Module.RETAINED_BYTES;

/**
 * Engine snapshots, one per app image: the heap after the boot script ran, every app
 * module was compiled and the preloaded ones ran — what a Moddable build leaves in
 * flash (xsc's bytecode, xsl's preloaded heap). Each wake starts a fresh engine from it
 * instead of compiling the app again; the wake's own heap is still fresh.
 */
interface Snapshot {
  path: string;
  /** Module specifiers in the order they were compiled (XS stacks number sources so). */
  ordinals: string[];
}
const snapshots = new Map<string, Snapshot>();
let snapshotDir: string | undefined;
let snapshotCount = 0;
/** This process's snapshot folder, removed when the process exits (snapshots are never shared between processes). */
function snapshotFolder(): string {
  if (!snapshotDir) {
    const dir = mkdtempSync(join(tmpdir(), "xsiot-snapshots-"));
    snapshotDir = dir;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return snapshotDir;
}
const snapshotKeys = new WeakMap<ImageInfo, string>();
function snapshotKey(info: ImageInfo): string {
  let key = snapshotKeys.get(info);
  if (!key) {
    const worker = xsnapWorkerPath();
    const h = createHash("sha256").update(BOOT_SCRIPT).update(worker).update(String(statSync(worker).mtimeMs)).update(JSON.stringify(info));
    key = h.digest("hex").slice(0, 32);
    snapshotKeys.set(info, key);
  }
  return key;
}
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export type ResetReason = "power-on" | "deep-sleep" | "software" | "panic" | "watchdog" | "brownout";
export type WakeCause = "timer" | "ext0" | "ext1" | "undefined";

export type TraceEvent = { t: number; device: string; type: string; [k: string]: unknown };

export interface DeviceOptions {
  name: string;
  dir: string;
  board: Board;
  /** Flashed to ota_0 as the factory image when the device has no bootable app (or always, with reflash). */
  image?: BuiltApp;
  reflash?: boolean;
  scenario?: Scenario;
  /** Virtual wall-clock time at t = 0, ms since epoch. */
  startTime?: number;
  /** Settings overlaid on the image's mc/config for this device (thing name, broker address...). */
  deviceConfig?: Record<string, unknown>;
  onTrace?: (event: TraceEvent) => void;
  /** Real ms without network activity after which virtual time may jump over open sockets. */
  quietMs?: number;
  /** Real ms to wait for an answer to bytes the device wrote before virtual time may jump anyway. */
  replyWaitMs?: number;
  /**
   * The peer this device talks to is still working on one of its requests (an in-process
   * cloud's Cloud.busy: a key being generated, say). On the chip that time passes in real
   * time while the device waits, so the virtual clock does not jump over it, even after
   * the request's own acknowledgement has arrived (which ends the replyWaitMs hold).
   */
  peerBusy?: () => boolean;
  /**
   * Real ms a burst of incoming TCP segments may take to arrive before the app hears of it
   * as one onReadable (default 2: a burst a peer writes in pieces reaches the app whole, as
   * when the chip's app task is busy while lwIP receives). Shorter only splits more bursts
   * into two deliveries; a long report where that does not matter may take 1.
   */
  settleMs?: number;
  /** Compute units one delivery may use before the task watchdog resets the chip. */
  watchdogUnits?: number;
  /** Stop the device after this many panics (a boot loop). */
  maxPanics?: number;
  /** Virtual ms per real ms for idle time (a live demo); unset: as fast as the host can. */
  pace?: number;
}

type Stop =
  | { kind: "deep-sleep"; us: number | null; ext0: { pin: number; level: number } | null; ext1: { pins: number[]; mode: string } | null }
  | { kind: "software" }
  | { kind: "power-cut"; offMs: number }
  | { kind: "rollback" };

interface TimerEntry {
  at: number;
  seq: number;
  id: number;
  repeat: number;
  kind: "timer" | "gpio" | "host";
  action?: () => void;
}

export interface DeviceMeters {
  compute: number;
  deliveries: number;
  hostCalls: number;
  hostCallUnits: number;
  byOp: Record<string, { calls: number; units: number }>;
}

export interface DeviceSummary {
  name: string;
  boots: number;
  wakes: number;
  panics: number;
  resets: Record<string, number>;
  compute: number;
  energy: EnergyReport;
  version?: string;
  stoppedBecause?: string;
}

export class VirtualDevice {
  readonly name: string;
  readonly board: Board;
  readonly storage: DeviceStorage;
  readonly energy: EnergyMeter;
  readonly faults: SocketFaults = defaultFaults();
  scenario: Scenario;
  private readonly startTime: number;
  /** Virtual ms since the simulation started. */
  now = 0;
  private endAt = 0;

  private worker: XsWorker | undefined;
  private stop: Stop | undefined;
  private rtcMemory: Uint8Array | undefined;
  private resetReason: ResetReason = "power-on";
  private wakeCause: WakeCause = "undefined";
  private wakePin = -1;
  private running: { partition: "ota_0" | "ota_1"; info: ImageInfo } | undefined;
  private radioOn = false;
  private joinedSincePowerOn = false;
  private rtcOffset = 0;

  private timers: TimerEntry[] = [];
  private timerSeq = 0;
  private events: {
    message: Record<string, unknown>;
    prepare?: () => Record<string, unknown> | undefined;
    resolve?: (v: unknown) => void;
    reject?: (e: unknown) => void;
  }[] = [];
  private wake: (() => void) | undefined;
  private i2cDevices = new Map<number, I2CPeripheral>();
  /** Host sides of the emulated modules, and their operations by name. */
  private readonly modules: HostModule[];
  private readonly ops: Record<string, Op> = {};
  private readonly tcp: HostModule;
  private readonly digital: ReturnType<typeof digitalModule.host>;
  private lastNetActivity = 0;
  private moduleOrdinals: string[] = [];
  private panicInfo: { message: string; stack: string } | undefined;
  private powerCutRequest: number | undefined;

  summary: DeviceSummary;
  /**
   * Cumulative engine meters of this device, for benches: XS compute units of
   * completed deliveries, and the part of them the sim's own bridge spent in
   * host calls (pack, issueCommand, unpack), in total and per operation. The
   * chip's native calls cost nothing like it: subtract hostCallUnits to read a
   * figure without the sim's per-call cost. Deterministic per delivery.
   */
  readonly meters: DeviceMeters = { compute: 0, deliveries: 0, hostCalls: 0, hostCallUnits: 0, byOp: {} };

  constructor(private readonly options: DeviceOptions) {
    this.name = options.name;
    this.board = options.board;
    this.scenario = options.scenario ?? emptyScenario();
    this.startTime = options.startTime ?? Date.UTC(2026, 0, 1);
    this.storage = new DeviceStorage(options.dir, options.board.flash.partitions, options.board.flash.blockLength);
    this.energy = new EnergyMeter(options.board);
    this.faults.latencyMs = this.scenario.network.latencyMs;
    this.summary = { name: this.name, boots: 0, wakes: 0, panics: 0, resets: {}, compute: 0, energy: this.energy.report(0) };
    for (const [address, dev] of this.scenario.i2c)
      this.i2cDevices.set(address, dev.device === "sht3x" ? new Sht3x(dev.inputs, 0) : new Bme280(dev.inputs, 0));
    const ctx = this.context();
    this.tcp = tcpModule.host(ctx);
    this.digital = digitalModule.host(ctx);
    this.modules = [
      timerModule.host(ctx),
      timeModule.host(ctx),
      systemModule.host(ctx),
      this.tcp,
      analogModule.host(ctx),
      this.digital,
      i2cModule.host(ctx, this.i2cDevices),
      keyValueModule.host(ctx),
      flashModule.host(ctx),
      updateModule.host(ctx),
      cryptModule.host(ctx),
      ecdsaModule.host(ctx),
      nativeEsp32Module.host(ctx),
    ];
    for (const m of this.modules) Object.assign(this.ops, m.ops);
  }

  /** What the module files may use of this device (moddable/context.ts). */
  private context(): DeviceContext & { setClock(ms: number): void } {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const d = this;
    return {
      name: d.name,
      board: d.board,
      storage: d.storage,
      energy: d.energy,
      faults: d.faults,
      get scenario() {
        return d.scenario;
      },
      get now() {
        return d.now;
      },
      get epochNow() {
        return d.epochNow;
      },
      get endAt() {
        return d.endAt;
      },
      get replyWaitMs() {
        return d.options.replyWaitMs ?? 2000;
      },
      get settleMs() {
        return d.options.settleMs ?? 2;
      },
      trace: (type, fields) => d.trace(type, fields),
      spend: (state, ms) => d.spend(state, ms),
      awakeState: () => d.awakeState(),
      post: (message, prepare) => {
        d.events.push({ message, prepare });
        d.wake?.();
      },
      addTimer: (at, id, kind, repeat = 0, action) => d.addTimer({ at, id, kind, repeat, action }),
      removeTimer: (kind, id) => d.removeTimer(kind, id),
      noteNetActivity: () => {
        d.lastNetActivity = performance.now();
      },
      radioUp: () => d.radioUp(),
      sleep: (r) => d.sleepRequested(r),
      restart: () => {
        d.trace("restart", {});
        d.stopWorker({ kind: "software" }, "software");
      },
      retained: () => (d.rtcMemory ??= new Uint8Array(RETAINED_BYTES)),
      resetInfo: () => ({ resetReason: d.resetReason, wakeCause: d.wakeCause, wakePin: d.wakePin }),
      running: () => d.running!,
      readImage: (partition) => d.readImage(partition),
      otaData: () => d.storage.readOtaData(),
      writeOtaData: (data) => d.storage.writeOtaData(data),
      rollback: () => d.rollbackRequested(),
      setClock: (ms) => {
        d.rtcOffset = ms - d.epochNow;
      },
    };
  }

  // ---------------------------------------------------------------- public API

  get epochNow(): number {
    return this.startTime + this.now;
  }

  get runningImage(): ImageInfo | undefined {
    return this.running?.info;
  }

  get awake(): boolean {
    return this.worker !== undefined;
  }

  /** Runs the device (booting it if off) until the given virtual time since start. */
  async run(untilMs: number): Promise<DeviceSummary> {
    this.endAt = untilMs;
    if (this.summary.boots === 0) this.flashFactoryImage();
    while (this.now < this.endAt && !this.summary.stoppedBecause) {
      if (!this.worker) {
        const ok = await this.bootOnce();
        if (!ok) break;
      }
      await this.loop();
      if (!this.stop) continue; // loop returned at endAt with the device still awake
      await this.afterStop();
    }
    this.dropSpare(); // no engine outlives run(): nothing keeps the host process alive
    this.summary.energy = this.energy.report(this.now);
    this.summary.version = this.running?.info.version;
    return this.summary;
  }

  /** Ends the simulation of this device now (worker killed, sockets dropped). */
  shutdown(): void {
    this.halted = true;
    this.endAt = Math.min(this.endAt, this.now);
    this.worker?.kill();
    this.worker = undefined;
    this.dropSpare();
    for (const m of this.modules) m.reset?.();
  }

  /** Cuts power at once (from a trace hook or a test), for offMs of virtual time. */
  powerCut(offMs = 1000): void {
    if (!this.worker) {
      this.powerCutRequest = offMs;
      return;
    }
    this.stopWorker({ kind: "power-cut", offMs });
  }

  /** Runs fn on the host at a virtual time (faults, inputs, power cuts). */
  at(ms: number, fn: () => void): void {
    this.addTimer({ at: ms, id: -1, repeat: 0, kind: "host", action: fn });
  }

  /** Evaluates code in the app's compartment between deliveries; resolves with its (JSON) result. */
  evaluate(code: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.events.push({ message: { type: "eval", code }, resolve, reject });
      this.wake?.();
    });
  }

  /** Cuts every open socket as a network fault would. */
  cutSockets(): void {
    this.tcp.cut?.();
  }

  // ---------------------------------------------------------------- trace & energy

  private trace(type: string, fields: Record<string, unknown> = {}): void {
    this.options.onTrace?.({ t: this.epochNow, device: this.name, type, ...fields });
  }

  private spend(state: EnergyState, ms: number): void {
    if (!(ms > 0)) return;
    this.energy.charge(state, ms);
    this.now += ms;
  }

  /** Idle time: jumped over, or played out in real time when paced. */
  private async idle(state: EnergyState, ms: number): Promise<void> {
    const pace = this.options.pace;
    if (!pace) return this.spend(state, ms);
    const end = this.now + ms;
    while (this.now < end && !this.halted) {
      const step = Math.min(end - this.now, 250 * pace);
      await new Promise((r) => setTimeout(r, step / pace));
      this.spend(state, step);
    }
  }

  private halted = false;

  private awakeState(): EnergyState {
    return this.radioOn ? "radio" : "cpu";
  }

  // ---------------------------------------------------------------- boot loader

  private flashFactoryImage(): void {
    const image = this.options.image;
    if (!image) return;
    const ota = this.storage.readOtaData();
    const current = this.readImage(ota.boot);
    if (!this.options.reflash && current && ota.states[ota.boot] !== "empty") return;
    const hook = this.storage.powerCutHook;
    this.storage.powerCutHook = undefined; // the factory flasher is not the device: no power cuts here
    try {
      this.storage.eraseAll("ota_0");
      this.storage.flashWrite("ota_0", 0, image.bytes);
      this.storage.writeOtaData({ boot: "ota_0", states: { ota_0: "valid", ota_1: "empty" } });
    } finally {
      this.storage.powerCutHook = hook;
    }
    this.trace("flash", { partition: "ota_0", app: image.info.app, version: image.info.version, bytes: image.bytes.length });
  }

  /** The verified image in a partition; read and hashed again only after the partition changed. */
  private readImage(partition: "ota_0" | "ota_1"): ImageInfo | undefined {
    const generation = this.storage.generation(partition);
    const hit = this.images.get(partition);
    if (hit && hit.generation === generation) return hit.info;
    const parsed = parseImage(this.storage.flashRead(partition, 0, this.storage.partitionSize(partition)));
    const info = "info" in parsed ? parsed.info : undefined;
    this.images.set(partition, { generation, info });
    return info;
  }
  private readonly images = new Map<string, { generation: number; info: ImageInfo | undefined }>();

  /** ESP-IDF boot with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE: NEW -> PENDING_VERIFY; PENDING_VERIFY at boot -> ABORTED, boot the other. */
  private chooseApp(): { partition: "ota_0" | "ota_1"; info: ImageInfo } | undefined {
    const ota = this.storage.readOtaData();
    const other = (p: "ota_0" | "ota_1") => (p === "ota_0" ? "ota_1" : "ota_0");
    const bootable = (p: "ota_0" | "ota_1") => ota.states[p] === "valid" || ota.states[p] === "new" || ota.states[p] === "pending-verify";
    let choice = ota.boot;
    let changed = false;
    if (ota.states[choice] === "pending-verify") {
      this.trace("rollback", { partition: choice, reason: "image was not confirmed before reset" });
      ota.states[choice] = "aborted";
      choice = other(choice);
      ota.boot = choice;
      changed = true;
    }
    for (const candidate of [choice, other(choice)] as const) {
      if (!bootable(candidate)) continue;
      const info = this.readImage(candidate);
      if (!info) {
        this.trace("boot-skip", { partition: candidate, reason: "image does not verify" });
        ota.states[candidate] = "invalid";
        changed = true;
        continue;
      }
      if (ota.states[candidate] === "new") {
        ota.states[candidate] = "pending-verify";
        changed = true;
      }
      if (ota.boot !== candidate) {
        ota.boot = candidate;
        changed = true;
      }
      if (changed) this.storage.writeOtaData(ota);
      return { partition: candidate, info };
    }
    if (changed) this.storage.writeOtaData(ota);
    return undefined;
  }

  private async bootOnce(): Promise<boolean> {
    this.summary.boots++;
    this.summary.resets[this.resetReason] = (this.summary.resets[this.resetReason] ?? 0) + 1;
    if (this.resetReason !== "deep-sleep") {
      this.rtcMemory = undefined; // RTC_DATA_ATTR is reinitialised on every reset but a deep-sleep wake
      this.wakeCause = "undefined";
    }
    if (this.resetReason === "power-on") this.joinedSincePowerOn = false;
    let app: ReturnType<VirtualDevice["chooseApp"]>;
    try {
      app = this.chooseApp();
    } catch (e) {
      if (e instanceof PowerCut) return this.powerCutDuringBoot(e);
      throw e;
    }
    if (!app) {
      this.trace("no-app", { message: "no bootable app partition: the device is bricked" });
      this.summary.stoppedBecause = "no bootable app";
      return false;
    }
    this.running = app;
    this.spend("boot", this.board.power.bootMs.value);
    this.trace("boot", {
      resetReason: this.resetReason,
      wakeCause: this.wakeCause,
      partition: app.partition,
      app: app.info.app,
      version: app.info.version,
    });
    this.radioOn = false;
    this.stop = undefined;
    this.panicInfo = undefined;
    this.moduleOrdinals = ["<boot>"];
    // A fresh engine per boot (a fresh heap, as the chip's): the one started ahead of time
    // while the previous wake ran, or a new one. Starting the next one now hides the
    // process start-up behind this wake.
    // mc/config (with this device's settings) may be read during preload: the snapshot is this device's.
    const key = createHash("sha256").update(snapshotKey(app.info)).update(this.board.id).update(JSON.stringify(this.options.deviceConfig ?? {})).digest("hex").slice(0, 32);
    if (this.spare && this.spare.key !== key) this.dropSpare(); // another image boots (OTA, rollback)
    const fromSpare = this.spare?.engine;
    const ready = fromSpare ?? this.startEngine(key);
    this.spare = this.summary.stoppedBecause ? undefined : { key, engine: this.startEngine(key) };
    try {
      // A spare started during the previous wake may have died with it (a power cut while it started, seen in
      // loaded full runs as "xsnap-worker exited (SIGKILL)"): the chip would simply boot, so start a fresh one.
      const engine = fromSpare ? await ready.catch(() => this.startEngine(key)) : await ready;
      this.worker = engine.worker;
      if (engine.snapshot) this.moduleOrdinals = [...engine.snapshot.ordinals];
      else await this.prepareEngine(engine.worker, app.info, key);
    } catch (e) {
      this.worker?.kill();
      this.worker = undefined;
      throw new Error(`virtual ESP32 runtime failed to start: ${String(e)}`);
    }
    // What Moddable's manifests give this app on esp32 (moddable/table.json); an image built before the table knew only the base.
    this.events.unshift({ message: { type: "boot", main: app.info.main, device: app.info.device ?? baseSurface(), preload: app.info.preload ?? [] } });
    if (this.powerCutRequest !== undefined) {
      const off = this.powerCutRequest;
      this.powerCutRequest = undefined;
      this.stopWorker({ kind: "power-cut", offMs: off });
    }
    return true;
  }

  /** An engine for the next boot: started from the image's snapshot, or one that has run the boot script. */
  private spare: { key: string; engine: Promise<{ worker: XsWorker; snapshot?: Snapshot }> } | undefined;
  private async startEngine(key: string): Promise<{ worker: XsWorker; snapshot?: Snapshot }> {
    const snapshot = snapshots.get(key);
    const worker = new XsWorker({
      computeLimit: this.options.watchdogUnits ?? Math.round(5e9 / this.board.power.computeUnitNs.value), // ~5 s task watchdog
      onCommand: (req) => this.onCommand(req),
      onPrint: (line) => this.trace("print", { text: line }),
      snapshot: snapshot?.path,
    });
    if (snapshot) return { worker, snapshot };
    try {
      await worker.evaluate(BOOT_SCRIPT);
    } catch (e) {
      worker.kill();
      throw e;
    }
    return { worker };
  }

  /**
   * The build, on an engine that has only run the boot script: compile every app module and
   * run the preloaded ones (host calls other than module/config/trace are refused, as native
   * code cannot run during preload), then keep the heap as the image's snapshot.
   */
  private async prepareEngine(worker: XsWorker, info: ImageInfo, key: string): Promise<void> {
    const compile = Object.keys(info.modules).sort();
    this.preparing = true;
    try {
      await worker.deliver(new Uint8Array(this.pack({ type: "prepare", device: info.device ?? baseSurface(), preload: info.preload ?? [], compile, t: this.epochNow + this.rtcOffset })));
    } finally {
      this.preparing = false;
    }
    if (snapshots.has(key)) return;
    try {
      const path = join(snapshotFolder(), `${key}-${++snapshotCount}.xss`); // never overwrite a file an engine may be reading
      await worker.writeSnapshot(path);
      fitSnapshotHeap(path); // each wake's engine allocates what the image holds, not the 40 MB of a fresh xsnap machine
      snapshots.set(key, { path, ordinals: [...this.moduleOrdinals] });
    } catch {
      // No snapshot: later boots prepare their engine again, which is slower but the same.
    }
  }
  private preparing = false;

  private dropSpare(): void {
    const spare = this.spare;
    this.spare = undefined;
    spare?.engine.then(
      (e) => e.worker.kill(),
      () => undefined,
    );
  }

  private powerCutDuringBoot(e: PowerCut): boolean {
    this.trace("power-cut", { point: e.point });
    this.spend("deep-sleep", 1000);
    this.resetReason = "power-on";
    return true;
  }

  // ---------------------------------------------------------------- event loop

  private addTimer(t: Omit<TimerEntry, "seq">): void {
    const entry = { ...t, seq: this.timerSeq++ };
    let i = this.timers.length;
    while (i > 0 && (this.timers[i - 1].at > entry.at || (this.timers[i - 1].at === entry.at && this.timers[i - 1].seq > entry.seq))) i--;
    this.timers.splice(i, 0, entry);
  }

  private removeTimer(kind: TimerEntry["kind"], id: number): void {
    this.timers = this.timers.filter((t) => !(t.kind === kind && t.id === id));
  }

  /**
   * Real network activity the virtual clock must not jump over: a connect in
   * progress, bytes held by the latency fault, a request written whose answer
   * has not come yet (for up to replyWaitMs: a write may have no answer), or a
   * peer still working on a request (peerBusy).
   */
  private networkBusy(): boolean {
    return this.modules.some((m) => m.busy?.()) || this.options.peerBusy?.() === true;
  }

  private openConnections(): number {
    let n = 0;
    for (const m of this.modules) n += m.open?.() ?? 0;
    return n;
  }

  private async loop(): Promise<void> {
    const quietMs = this.options.quietMs ?? 200;
    while (this.worker && !this.stop) {
      const ev = this.events.shift();
      if (ev) {
        const message = ev.prepare ? ev.prepare() : ev.message;
        if (!message) continue; // nothing left to tell the app (e.g. its socket closed)
        try {
          const result = await this.deliver(message);
          ev.resolve?.(result);
        } catch (e) {
          ev.reject?.(e);
        }
        continue;
      }
      const next = this.timers[0];
      if (next && next.at <= this.now) {
        this.timers.shift();
        if (next.kind === "host") {
          next.action!();
          continue;
        }
        if (next.repeat > 0) this.addTimer({ ...next, at: next.at + next.repeat });
        if (next.kind === "gpio") {
          if (this.digital.fired(next.id)) await this.deliver({ type: "gpio", id: next.id });
        } else await this.deliver({ type: "timer", id: next.id });
        continue;
      }
      if (this.now >= this.endAt) return;
      const realIdle = performance.now() - this.lastNetActivity;
      const canJump = this.openConnections() === 0 || (!this.networkBusy() && realIdle >= quietMs);
      if (canJump) {
        const target = Math.min(next ? next.at : Infinity, this.endAt);
        await this.idle(this.awakeState(), target - this.now);
        continue;
      }
      // Wait for the network in real time, which is also virtual time.
      const budget = Math.max(1, Math.min(next ? next.at - this.now : Infinity, quietMs - realIdle, this.endAt - this.now));
      const started = performance.now();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = undefined;
          resolve();
        }, budget);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
      this.spend(this.awakeState(), performance.now() - started);
    }
  }

  private async deliver(message: Record<string, unknown>): Promise<unknown> {
    const worker = this.worker;
    if (!worker || this.stop) return undefined;
    try {
      const { reply, meters } = await worker.deliver(new Uint8Array(this.pack({ ...message, t: this.epochNow + this.rtcOffset })));
      this.account(meters);
      const r = this.unpack(reply);
      this.meters.deliveries++;
      const b = r.bridge as { calls: number; units: number; ops: Record<string, [number, number]> } | undefined;
      if (b) {
        this.meters.hostCalls += b.calls;
        this.meters.hostCallUnits += b.units;
        for (const [op, [calls, units]] of Object.entries(b.ops)) {
          const o = (this.meters.byOp[op] ??= { calls: 0, units: 0 });
          o.calls += calls;
          o.units += units;
        }
      }
      return r.result;
    } catch (e) {
      if (this.stop) return undefined; // the device slept, restarted or lost power during the delivery
      if (e instanceof CrankError) {
        this.panic(e.message);
        return undefined;
      }
      if (e instanceof WorkerExit) {
        const reason = e.code !== null ? WorkerExitCode[e.code] : undefined;
        if (e.code === TOO_MUCH_COMPUTATION) {
          this.trace("watchdog", { message: "task watchdog: a delivery ran past the compute limit (~5 s of CPU)" });
          this.stopWorker(undefined, "watchdog");
        } else this.panic(`XS engine aborted: ${reason ?? e.message}`);
        return undefined;
      }
      throw e;
    }
  }

  private account(meters: Meters): void {
    this.summary.compute += meters.compute;
    this.meters.compute += meters.compute;
    this.spend(this.awakeState(), (meters.compute * this.board.power.computeUnitNs.value) / 1e6);
  }

  private panic(message: string): void {
    const info = this.panicInfo;
    this.summary.panics++;
    this.trace("panic", {
      message: info?.message ?? message,
      at: info ? this.locate(info.stack) : undefined,
      stack: info?.stack ? this.mapStack(info.stack) : undefined,
    });
    this.stopWorker(undefined, "panic");
    if (this.summary.panics >= (this.options.maxPanics ?? 20)) this.summary.stoppedBecause = `boot loop: ${this.summary.panics} panics`;
  }

  /** "#3:12" in an XS stack -> "sdk/mqtt/client.ts:40". */
  private mapStack(stack: string): string {
    return stack.replace(/#(\d+):(\d+)/g, (whole, n: string, line: string) => {
      const spec = this.moduleOrdinals[Number(n)];
      const src = spec && this.options.image?.sources[spec];
      if (!src) return spec ? `${spec}:${line}` : whole;
      try {
        const pos = originalPositionFor(new TraceMap(src.map), { line: Number(line), column: 0 });
        const file = src.file.replace(/^.*?\/(sdk|firmware|hil-tests|test|tools)\//, "$1/");
        return `${file}:${pos.line ?? line}`;
      } catch {
        return `${spec}:${line}`;
      }
    });
  }

  private locate(stack: string): string | undefined {
    const m = /\(?(#\d+:\d+)\)?/.exec(stack);
    return m ? this.mapStack(m[1]) : undefined;
  }

  private stopWorker(stop: Stop | undefined, reason?: ResetReason): void {
    this.stop = stop ?? { kind: "software" };
    if (reason) this.resetReason = reason;
    this.worker?.kill();
  }

  /** After the worker stopped: sleep, restart or stay off, then set up the next boot. */
  private async afterStop(): Promise<void> {
    const stop = this.stop!;
    this.worker = undefined;
    for (const m of this.modules) m.reset?.();
    this.events = this.events.filter((e) => {
      e.reject?.(new Error("device reset"));
      return false;
    });
    this.timers = this.timers.filter((t) => t.kind === "host");
    this.radioOn = false;
    switch (stop.kind) {
      case "deep-sleep": {
        const wakeTimer = stop.us !== null ? this.now + stop.us / 1000 : Infinity;
        const gpio = this.gpioWake(stop, Math.min(wakeTimer, this.endAt));
        const wakeAt = Math.min(wakeTimer, gpio?.at ?? Infinity);
        this.trace("sleep", { us: stop.us, ext0: stop.ext0, ext1: stop.ext1, until: Number.isFinite(wakeAt) ? this.startTime + wakeAt : null });
        const hostTimer = this.timers[0];
        const until = Math.min(wakeAt, this.endAt, hostTimer ? Math.max(hostTimer.at, this.now) : Infinity);
        await this.idle("deep-sleep", until - this.now);
        while (this.timers[0] && this.timers[0].at <= this.now) this.timers.shift()!.action!();
        if (this.powerCutRequest !== undefined) {
          // Power lost while asleep: RTC memory goes too.
          this.spend("deep-sleep", 0);
          this.resetReason = "power-on";
          this.powerCutRequest = undefined;
          return;
        }
        if (this.now < wakeAt && this.now < this.endAt) {
          // A host action ran while asleep; keep sleeping.
          this.stop = stop;
          stop.us = stop.us !== null ? Math.max(0, (wakeAt - this.now) * 1000) : null;
          this.worker = undefined;
          return this.afterStop();
        }
        if (this.now >= this.endAt && wakeAt > this.endAt) return;
        this.resetReason = "deep-sleep";
        this.summary.wakes++;
        if (gpio && gpio.at <= wakeTimer) {
          this.wakeCause = gpio.cause;
          this.wakePin = gpio.pin;
        } else {
          this.wakeCause = "timer";
          this.wakePin = -1;
        }
        return;
      }
      case "power-cut":
        this.trace("power-off", { forMs: stop.offMs });
        this.spend("deep-sleep", 0);
        this.now += stop.offMs; // no current drawn while unpowered
        this.resetReason = "power-on";
        this.rtcMemory = undefined;
        return;
      case "rollback":
        this.resetReason = "software";
        return;
      case "software":
        if (this.resetReason !== "panic" && this.resetReason !== "watchdog") this.resetReason = "software";
        return;
    }
  }

  private gpioWake(stop: Extract<Stop, { kind: "deep-sleep" }>, horizon: number): { at: number; cause: WakeCause; pin: number } | undefined {
    const levelWake = (pin: number, level: number): number | undefined => {
      const g = this.scenario.gpio.get(pin);
      if (!g) return level === 1 ? this.now : undefined;
      if (g.level(this.now) === level) return this.now;
      let t = this.now;
      for (;;) {
        const e = g.edges(t, horizon);
        if (e === undefined) return undefined;
        if (g.level(e) === level) return e;
        t = e;
      }
    };
    let best: { at: number; cause: WakeCause; pin: number } | undefined;
    if (stop.ext0) {
      const at = levelWake(stop.ext0.pin, stop.ext0.level);
      if (at !== undefined) best = { at, cause: "ext0", pin: stop.ext0.pin };
    }
    if (stop.ext1) {
      const level = stop.ext1.mode === "any-high" ? 1 : 0;
      for (const pin of stop.ext1.pins) {
        const at = levelWake(pin, level);
        if (at !== undefined && (!best || at < best.at)) best = { at, cause: "ext1", pin };
      }
    }
    return best;
  }

  // ---------------------------------------------------------------- host commands from XS

  private pack(message: Record<string, unknown>, payload?: Uint8Array): ArrayBuffer {
    const json = encoder.encode(JSON.stringify(message));
    const out = new Uint8Array(4 + json.length + (payload?.length ?? 0));
    new DataView(out.buffer).setUint32(0, json.length);
    out.set(json, 4);
    if (payload) out.set(payload, 4 + json.length);
    return out.buffer;
  }

  private unpack(bytes: Uint8Array): Record<string, any> & { payload?: Uint8Array } {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const length = dv.getUint32(0);
    const message = JSON.parse(decoder.decode(bytes.subarray(4, 4 + length)));
    if (bytes.length > 4 + length) message.payload = bytes.subarray(4 + length);
    return message;
  }

  private onCommand(request: Uint8Array): Uint8Array {
    let reply: Reply;
    try {
      const m = this.unpack(request);
      reply = this.command(m, m.payload);
    } catch (e) {
      if (e instanceof PowerCut) {
        this.trace("power-cut", { point: e.point });
        this.stopWorker({ kind: "power-cut", offMs: 1000 }, "power-on");
        reply = { json: { error: "power cut" } };
      } else {
        const err = e as Error;
        const errorType = err instanceof XsError ? err.errorType : err instanceof TypeError ? "TypeError" : err instanceof RangeError ? "RangeError" : "Error";
        reply = { json: { error: err.message, errorType } };
      }
    }
    reply.json.t = this.epochNow + this.rtcOffset; // the chip's clock, as Time.set left it
    return new Uint8Array(this.pack(reply.json, reply.payload));
  }

  /** The core's own commands; every other goes to the module file that owns it. */
  private command(m: Record<string, any>, payload: Uint8Array | undefined): Reply {
    switch (m.op as string) {
      case "trace":
        this.trace("log", { text: m.text });
        return { json: {} };
      case "panic":
        this.panicInfo = { message: m.message, stack: m.stack };
        return { json: {} };
      case "module": {
        const source = this.running!.info.modules[m.specifier];
        if (source === undefined) {
          const by = m.importer ? ` (imported by "${m.importer}"${this.sourceFileOf(m.importer)})` : "";
          throw new Error(`module "${m.specifier}" not found${by}`);
        }
        this.moduleOrdinals.push(m.specifier);
        return { json: {}, payload: encoder.encode(source) };
      }
      case "config":
        return { json: { config: { ...this.running!.info.config, board: boardConfig(this.board), ...this.options.deviceConfig } } };
      case "xs.fromBase64":
        // An XS built-in (Uint8Array.fromBase64), so available during preload too.
        return { json: {}, payload: fromBase64(String(m.text), m.alphabet, m.last) };
      default: {
        if (this.preparing) throw new Error(`native function ${m.op} called during preload (it runs at build time: documentation/xs/preload.md)`);
        const op = this.ops[m.op];
        if (!op) throw new Error(`unknown device operation ${m.op}`);
        return op(m, payload);
      }
    }
  }

  private sourceFileOf(spec: string): string {
    const s = this.options.image?.sources[spec];
    return s ? `, ${s.file.replace(/^.*?\/(sdk|firmware|hil-tests|test)\//, "$1/")}` : "";
  }

  // ---------------------------------------------------------------- power (for xsiot/native/esp32 and system)

  private sleepRequested(r: SleepRequest): void {
    // The delivery ends here without meters: charge the compute it used up to this call.
    if (r.compute > 0) {
      this.summary.compute += r.compute;
      this.meters.compute += r.compute;
      this.spend(this.awakeState(), (r.compute * this.board.power.computeUnitNs.value) / 1e6);
    }
    this.stopWorker({ kind: "deep-sleep", us: r.us, ext0: r.ext0, ext1: r.ext1 });
  }

  private rollbackRequested(): void {
    const ota = this.storage.readOtaData();
    const running = this.running!.partition;
    const other = running === "ota_0" ? "ota_1" : "ota_0";
    if (ota.states[other] !== "valid") throw new Error("rollback: no valid previous image");
    ota.states[running] = "invalid";
    ota.boot = other;
    this.storage.writeOtaData(ota);
    this.trace("rollback", { partition: running, reason: "app requested" });
    this.stopWorker({ kind: "rollback" }, "software");
  }

  /** The first socket of a wake joins Wi-Fi (cached after the first join since power-on). */
  private radioUp(): void {
    if (this.radioOn) return;
    const cached = this.joinedSincePowerOn;
    const ms = cached ? this.board.power.wifiJoinCachedMs.value : this.board.power.wifiJoinMs.value;
    this.spend("wifi-join", ms);
    this.trace("wifi-join", { ms, cached });
    this.radioOn = true;
    this.joinedSincePowerOn = true;
  }
}

export { StorageError, type OtaData };
