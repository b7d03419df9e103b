// Port: runs one wake of the plan on the device — retained memory, the flash
// queue, the sensor callback, the uplink, deep sleep. Call runWake() once at
// boot; it ends in deepSleep() and never returns.
//
//   retained (RTC) block: state + ring of readings not yet on flash (CRC-32)
//   key-value "xsiotq": the store-and-forward queue (FlashQueue) of readings not acknowledged
//   key-value "xsiots": "s" = snapshot of the state (config, sequence, clock offset, counters),
//                       written at each uplink and when the retained block is rebuilt
// Recovery: a blank, foreign or corrupt retained block (power-on, brownout, stray
// write) is rebuilt from "xsiots"/"s" and the queue's last sequence number.
// Loss accounting is exact: every wake notes the highest sequence number issued
// in the queue's meta (noteSeq) before the reading can reach retained memory, and
// appends record the highest that reached flash. At power-on the numbers between
// the two were issued and never reached flash (the retained ring at the power
// loss, or the reading of a wake cut before it was retained): the queue counts
// them in `lost` in one meta write (declareUnspilled). So `lost` + `evicted` +
// `corrupted` is exactly the number of sequence numbers that will never reach
// the cloud, and each telemetry message carries the three counters.
import { deepSleep, resetReason, retain, retained, wakeCause, wakePin, type DeepSleepOptions } from "xsiot/native/esp32";
import KeyValue from "embedded:storage/key-value";
import { FlashQueue } from "../storage/queue";
import { kvChunkStore } from "../storage/kv";
import { applyConfig, DEFAULT_CONFIG, type SleepConfig } from "./config";
import { afterUplink, planWake, sleepMsUntilNext, type WakeKind, type WakePlan } from "./plan";
import { RECORD_SIZE } from "./record";
import { decodeState, encodeState, initialState, type SleepState } from "./state";
import { uplink, type MqttTarget, type UplinkContext, type UplinkRequest, type UplinkResult } from "./uplink";

export interface Sample {
  value?: number;
  batteryMv?: number;
}

export interface SchedulerOptions {
  thing: string;
  mqtt: MqttTarget;
  /** Initial config (mc/config); shadow updates override it and persist. */
  config?: Partial<SleepConfig>;
  /** Reads the sensors. A throw means "no value this wake". */
  sample(kind: WakeKind): Sample | Promise<Sample>;
  /** The level of a wake pin after a GPIO wake (for the event record). */
  readPin?(pin: number): number;
  /** GPIO wake sources for the next sleep (ext0/ext1 part of deepSleep options), computed just before sleeping. */
  wakeSources?(): DeepSleepOptions;
  /** Sends a batch (default: MQTT, uplink.ts); e.g. httpsUplink from xsiot/https/uplink. */
  transport?(req: UplinkRequest): Promise<UplinkResult>;
  /** Runs on every connection: shadow sync, jobs. */
  onSession?(ctx: UplinkContext): Promise<void> | void;
  /** The app has cloud work pending (e.g. a job in progress). */
  pendingJob?(): boolean;
  /** Before deep sleep, with what happened (tests and logs). */
  onWakeDone?(report: WakeReport): void;
  queue?: { perChunk?: number; maxChunks?: number };
  /** Telemetry encoding (see uplink.ts): "json" (default) or "cbor". */
  telemetryFormat?: "json" | "cbor";
  /** Injected for tests; default the native module. */
  sleep?(options: DeepSleepOptions): void;
  log?(line: string): void;
}

export interface WakeReport {
  kind: WakeKind;
  seq?: number;
  uplink: boolean;
  reasons: string[];
  deferred: boolean;
  result?: UplinkResult;
  queued: number;
  evicted: number;
  sleepMs: number;
  state: SleepState;
  recovered: boolean;
}

const STATE_NS = "xsiots";
const QUEUE_NS = "xsiotq";

function saveSnapshot(s: SleepState): void {
  const kv = KeyValue.open({ path: STATE_NS, format: "buffer" });
  try {
    kv.write("s", encodeState({ ...s, ring: new Uint8Array(0) }));
  } finally {
    kv.close();
  }
}

function loadSnapshot(): SleepState | undefined {
  const kv = KeyValue.open({ path: STATE_NS, format: "buffer" });
  try {
    const v = kv.read("s");
    return v instanceof ArrayBuffer ? decodeState(new Uint8Array(v)) : undefined;
  } finally {
    kv.close();
  }
}

function wakeKind(): WakeKind {
  const reason = resetReason();
  if (reason !== "deep-sleep") return "power-on";
  const cause = wakeCause();
  return cause === "ext0" || cause === "ext1" ? "gpio" : "timer";
}

export async function runWake(options: SchedulerOptions): Promise<void> {
  const log = options.log ?? ((line: string) => trace(line + "\n"));
  const now = () => Date.now();
  const start = now();
  const queue = new FlashQueue(kvChunkStore(QUEUE_NS), {
    recordSize: RECORD_SIZE,
    perChunk: options.queue?.perChunk,
    maxChunks: options.queue?.maxChunks,
    // Traced as soon as the eviction is on flash, before the chunks are deleted (a power cut may come in between).
    onEvict: (n, first, last) => log(`sleep: queue full, evicted ${n} oldest readings (seq ${first}-${last})`),
  });
  let kind = wakeKind();
  const block = new Uint8Array(retained());
  let state = kind === "power-on" ? undefined : decodeState(block);
  // A retained block older than the flash (a wake that ended without retaining its state) would reuse sequence numbers.
  if (state && queue.stats().lastSeq >= state.nextSeq) state = undefined;
  let recovered = false;
  if (!state) {
    // Power-on, or the retained block is blank/corrupt: rebuild from flash.
    recovered = kind !== "power-on";
    const snap = loadSnapshot();
    const base = applyConfig(DEFAULT_CONFIG, options.config ?? {}).config;
    state = snap ?? initialState(base);
    if (!snap) state.config = base;
    state.nextSeq = Math.max(state.nextSeq, queue.stats().lastSeq + 1);
    const before = queue.stats().appendedSeq;
    const lost = queue.declareUnspilled(); // the ring that was in retained memory, counted exactly
    if (lost) log(`sleep: lost ${lost} readings at a power loss (seq ${before + 1}-${before + lost})`);
    if (snap) state.recoveries += recovered ? 1 : 0;
    state.lastUplinkAt = -1;
    state.failures = 0;
    state.retryAt = 0;
    state.ring = new Uint8Array(0);
    kind = "power-on";
    // The mc/config mode switch always wins (the energy report flips it).
    if (options.config?.mode) state.config.mode = options.config.mode;
  }
  let sample: Sample = {};
  try {
    sample = await options.sample(kind);
  } catch (e) {
    log(`sleep: sensor failed: ${e}`);
  }
  const pin = kind === "gpio" ? wakePin() : -1;
  const plan: WakePlan = planWake(state, {
    now: start,
    kind,
    value: sample.value,
    batteryMv: sample.batteryMv,
    level: kind === "gpio" && options.readPin ? options.readPin(pin) : undefined,
    queued: queue.count,
    capacity: queue.capacity,
    pendingJob: options.pendingJob?.() ?? false,
  });
  state = plan.state;
  state.lost = queue.stats().lost;
  if (plan.spill && state.ring.length) {
    queue.append(state.ring);
    state.ring = new Uint8Array(0);
  }
  queue.noteSeq(state.nextSeq - 1);
  let result: UplinkResult | undefined;
  if (plan.uplink) {
    // Keep the retained copy current before the radio goes on (a brownout in TX must not lose the plan).
    retain(encodeState(state), 0);
    const batch = queue.peek(state.config.maxPerUplink);
    result = await (options.transport ?? uplink)({
      thing: options.thing,
      mqtt: options.mqtt,
      readings: batch,
      perMessage: state.config.perMessage,
      budgetMs: state.config.radioBudgetMs,
      meta: { evicted: queue.stats().evicted, lost: queue.stats().lost, corrupted: queue.stats().corrupted, uplinkFailures: state.uplinkFailures },
      onSession: options.onSession,
      format: options.telemetryFormat,
      now,
    });
    if (result.ackedThrough > 0) queue.ackThrough(result.ackedThrough);
    if (result.config !== undefined) {
      const { config, refused } = applyConfig(state.config, result.config);
      if (refused.length) log(`sleep: config refused: ${refused.join(", ")}`);
      const intervalChanged = config.sampleS !== state.config.sampleS;
      state.config = config;
      if (intervalChanged) state.nextSampleAt = start + config.sampleS * 1000;
    }
    state = afterUplink(state, {
      startedAt: start,
      now: now(),
      ok: result.ok,
      serverTimeMs: result.serverTimeMs,
      serverSeenAt: result.serverSeenAt,
      remaining: queue.count,
      radioMs: result.radioMs,
    });
    if (result.ok && result.pendingJob) state.urgent = 1; // come back at the next wake for the job
    if (!result.ok) log(`sleep: uplink failed (${result.error}); retry after ${Math.round((state.retryAt - now()) / 1000)} s, ${queue.count} readings kept`);
    saveSnapshot(state);
  } else if (recovered || kind === "power-on") saveSnapshot(state);
  const sleepMs = sleepMsUntilNext(state, now());
  retain(encodeState(state), 0);
  const stats = queue.stats();
  options.onWakeDone?.({
    kind, seq: plan.reading?.seq, uplink: plan.uplink, reasons: plan.reasons, deferred: plan.deferred, result,
    queued: stats.count, evicted: stats.evicted, sleepMs, state, recovered,
  });
  const wake: DeepSleepOptions = { ...(options.wakeSources?.() ?? {}), us: Math.round(sleepMs * 1000) };
  (options.sleep ?? deepSleep)(wake);
}
