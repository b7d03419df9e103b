// A small sensor node on the xsiot sleep scheduler: an analog value (ADC mV / 10),
// the battery (divider, x2), a door contact on an RTC GPIO (wakes on change), and a
// shadow get per uplink for config (desired.config) and server time (timestamp).
// mc/config: thing | deviceName, mqttHost, mqttPort, tls?, mode ("batched" | "naive"), sleep {...}, doorPin, valuePin, batteryPin.
import Analog from "embedded:io/analog";
import Digital from "embedded:io/digital";
import config from "mc/config";
import { runWake } from "xsiot/sleep/scheduler";
import type { UplinkContext } from "xsiot/sleep/uplink";
import { rawToMillivolts, type AdcCalibration } from "xsiot/sensors/calibration";
import { utf8String } from "xsiot/text/utf8";
import { RECORD_SIZE } from "xsiot/sleep/record";

interface NodeConfig {
  thing?: string;
  deviceName?: string;
  mqttHost: string;
  mqttPort: number;
  tls?: { ca: string; certificate: string; key: string };
  mode?: "batched" | "naive";
  sleep?: Record<string, unknown>;
  doorPin: number;
  valuePin: number;
  batteryPin: number;
  board?: { adc?: { calibration?: AdcCalibration } };
}
const c = config as unknown as NodeConfig;
const thing = c.thing ?? c.deviceName ?? "node";
const cal: AdcCalibration = c.board?.adc?.calibration ?? { attenuationDb: 11, points: [[0, 0], [4095, 3300]] };

function mv(pin: number): number {
  // close() exists on Moddable's esp32 Analog (modules/io/analog/esp32/_analog.js), not in its typing.
  const a = new Analog({ pin }) as Analog & { close(): void };
  try {
    return rawToMillivolts(cal, a.read());
  } finally {
    a.close();
  }
}
function level(pin: number): number {
  const d = new Digital({ pin, mode: Digital.Input });
  try {
    return d.read();
  } finally {
    d.close();
  }
}

function shadowSync(ctx: UplinkContext): Promise<void> {
  const base = `$aws/things/${thing}/shadow/get`;
  return new Promise<void>((resolve) => {
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      remove();
      resolve();
    };
    const remove = ctx.client.route(`${base}/accepted`, (_topic, payload) => {
      try {
        if (payload.byteLength > 8192) throw new Error("shadow document too large");
        const doc = JSON.parse(utf8String(payload)) as { timestamp?: number; state?: { desired?: { config?: unknown } } };
        if (typeof doc.timestamp === "number") ctx.setServerTime(doc.timestamp * 1000);
        if (doc.state?.desired?.config !== undefined) ctx.setConfig(doc.state.desired.config);
      } catch (e) {
        trace(`node: bad shadow document: ${e}\n`);
      }
      done();
    });
    ctx.client.route(`${base}/rejected`, (_topic, payload) => {
      // No shadow yet: the rejection still carries the server time.
      try {
        const doc = JSON.parse(utf8String(payload)) as { timestamp?: number };
        if (typeof doc.timestamp === "number") ctx.setServerTime(doc.timestamp * 1000);
      } catch {
        // ignored
      }
      done();
    });
    ctx.client.subscribe([`${base}/accepted`, `${base}/rejected`], { qos: 1 }).then(undefined, () => done());
    ctx.client.publish(base, "", { qos: 1 }).then(undefined, () => done());
  });
}

runWake({
  thing,
  mqtt: { host: c.mqttHost, port: c.mqttPort, tls: c.tls },
  config: { ...(c.sleep ?? {}), ...(c.mode ? { mode: c.mode } : {}) },
  sample() {
    return { value: Math.round(mv(c.valuePin)) / 10, batteryMv: Math.round(mv(c.batteryPin) * 2) };
  },
  readPin: (pin) => level(pin),
  wakeSources() {
    // Wake on the door's next change: armed for the level it is not at now.
    return { ext0: { pin: c.doorPin, level: level(c.doorPin) ? 0 : 1 } };
  },
  onSession: shadowSync,
  onWakeDone(r) {
    trace(
      `wake ${JSON.stringify({ kind: r.kind, seq: r.seq, uplink: r.uplink, reasons: r.reasons, deferred: r.deferred, ok: r.result?.ok, acked: r.result?.ackedThrough, err: r.result?.error, queued: r.queued, ring: r.state.ring.length / RECORD_SIZE, evicted: r.evicted, lost: r.state.lost, issued: r.state.nextSeq - 1, sleepMs: r.sleepMs, sampleS: r.state.config.sampleS, offset: r.state.clockOffsetMs, recovered: r.recovered })}\n`,
    );
  },
}).then(undefined, (e: unknown) => {
  trace(`node: wake failed: ${e}\n`);
});
