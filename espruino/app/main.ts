// The xsiot reference sensor node on Espruino: what firmware/main.ts does on
// Moddable, where Espruino can. Every boot (power-on, or a wake from deep
// sleep, which is a boot on ESP32): read the settings from Storage, then one
// wake of the SDK's sleep scheduler: sample the thermistor and the battery,
// keep the reading in the retained block and the flash queue, and, when the
// plan says so, bring Wifi up, uplink the batch (QoS 1, sequence numbers,
// persistent session) and sync the shadow (config) and jobs on the same
// connection; then deep sleep until the next sample.
//
// Not here, and why: OTA (Espruino's JS cannot write the ESP32's inactive app
// partition; ESP32.setOTAValid only marks an image that something else wrote),
// fleet provisioning by claim (its server cannot be verified: Espruino's TLS
// does not check certificates), and a GPIO wake together with the timer wake
// (Espruino arms one or the other, see port/esp32.ts).
import {
  runWake, ShadowClient, JobsAgent, KeyValue, TLS, readThermistor, readBatteryMv, readPin, useWifi, radioOff, deepSleep, trace,
} from "xsiot";

interface Settings {
  version: string;
  thing: string;
  host: string;
  port?: number;
  tls?: { ca?: string; certificate?: string; key?: string };
  wifi?: { ssid: string; password?: string };
  sleep?: Record<string, unknown>;
  board?: {
    thermistor?: { pin: unknown; enable?: unknown; r25: number; beta: number; seriesOhms: number; topology: "ntc-to-ground" | "ntc-to-supply"; supplyMv: number };
    battery?: { pin: unknown; top: number; bottom: number };
    door?: unknown;
  };
}

const SETTINGS_FILE = "xsiot.json";
const RETRY_US = 15 * 60 * 1000000;

function emit(event: string, data: Record<string, unknown>): void {
  trace("xsiot " + JSON.stringify({ event, data }));
}

function settings(): Settings {
  const raw = require("Storage").readJSON(SETTINGS_FILE, true);
  if (!raw || typeof raw.thing !== "string" || typeof raw.host !== "string") throw new Error("no valid " + SETTINGS_FILE + " in Storage (xsiot flash --runtime espruino writes it)");
  return raw as Settings;
}

function sample(s: Settings): { value?: number; batteryMv?: number } {
  const b = s.board || {};
  const out: { value?: number; batteryMv?: number } = {};
  const errors: Record<string, string> = {};
  if (b.thermistor) {
    const t = b.thermistor;
    try {
      out.value = Math.round(readThermistor({ pin: t.pin, enable: t.enable, r25: t.r25, beta: t.beta, divider: { topology: t.topology, fixedOhms: t.seriesOhms, supplyMv: t.supplyMv } }) * 100) / 100;
    } catch (e) {
      errors.thermistor = String(e);
    }
  }
  if (b.battery) out.batteryMv = readBatteryMv(b.battery.pin, b.battery.top, b.battery.bottom);
  emit("reading", { temperatureC: out.value, batteryMv: out.batteryMv, errors });
  return out;
}

function jobPending(): boolean {
  const kv = KeyValue.open({ path: "xsiot-jobs", format: "string" });
  try {
    return kv.read("exec") !== undefined;
  } finally {
    kv.close();
  }
}

function main(): void {
  let s: Settings;
  try {
    s = settings();
  } catch (e) {
    emit("error", { where: "settings", message: String(e) });
    deepSleep({ us: RETRY_US });
    return;
  }
  if (s.wifi) useWifi(s.wifi.ssid, s.wifi.password);
  const version = s.version || "0.0.0";
  let agent: JobsAgent | undefined;
  emit("boot", { version, thing: s.thing });
  runWake({
    thing: s.thing,
    // TLS: encrypted, the device's certificate presented; the server's is NOT verified (port/tls.ts).
    mqtt: { host: s.host, port: s.port, tls: s.tls, socket: s.tls ? TLS : undefined },
    config: s.sleep as never,
    sample: () => sample(s),
    readPin: (pin) => readPin(pin),
    pendingJob: jobPending,
    onSession(ctx) {
      if (!agent) {
        agent = new JobsAgent(ctx.client, { thingName: ctx.thing });
        // A job the app knows: report what runs here (its answer is the job's SUCCEEDED details).
        agent.on("report", (job) => job.succeed({ version, runtime: "espruino", free: String(process.memory().free) }));
      }
      const a = agent;
      const shadow = new ShadowClient(ctx.client, { thingName: ctx.thing, timeoutMs: Math.min(5000, ctx.remainingMs()) });
      shadow.onDelta("*", (delta) => {
        if (delta.config !== undefined) ctx.setConfig(delta.config);
        return delta.config !== undefined ? { config: delta.config } : undefined;
      });
      return shadow
        .start()
        .then((doc) => {
          if (doc && typeof doc.timestamp === "number") ctx.setServerTime(doc.timestamp * 1000);
          if (shadow.reported.version !== version) return shadow.report({ version, runtime: "espruino" });
        })
        .catch((e) => emit("error", { where: "shadow", message: String(e) }))
        .then(() => {
          shadow.close();
          return a.start().then(() => a.idle(Math.max(0, ctx.remainingMs() - 500)));
        })
        .catch((e) => emit("error", { where: "jobs", message: String(e) }))
        .then(() => ctx.setPendingJob(a.current !== undefined));
    },
    onWakeDone(r) {
      if (r.uplink) emit("uplink", { ok: r.result ? r.result.ok : false, acked: r.result ? r.result.acked : 0, through: r.result ? r.result.ackedThrough : 0, reasons: r.reasons, error: r.result && r.result.error });
      emit("sleep", { ms: r.sleepMs, seq: r.seq, queued: r.queued, memory: process.memory().usage });
      radioOff();
    },
  }).catch((e: unknown) => {
    emit("error", { where: "main", message: String(e), stack: e && (e as Error).stack });
    deepSleep({ us: RETRY_US });
  });
}

main();
