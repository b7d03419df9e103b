// The xsiot reference sensor node.
//
// Every boot: say who we are; get the device identity (provisioning by claim on
// the first boot); then one wake of the sleep scheduler: sample the thermistor
// and the battery, keep the reading in retained memory and on flash, and, when
// the plan says so, uplink the batch and sync the shadow (config) and jobs
// (OTA) on the same connection; then deep sleep until the next sample or until
// the door contact changes.
import { deepSleep, resetReason, wakeCause, ota } from "xsiot/native/esp32";
import { provision, ProvisioningError } from "xsiot/provisioning/provision";
import { runWake } from "xsiot/sleep/scheduler";
import type { UplinkContext } from "xsiot/sleep/uplink";
import { ShadowClient } from "xsiot/shadow/client";
import { JobsAgent } from "xsiot/jobs/agent";
import { OtaAgent } from "xsiot/ota/agent";
import { base64Decode } from "xsiot/ota/base64";
import { CommandHandler } from "xsiot/commands/handler";
import { DefenderMetrics, type NetworkCounters } from "xsiot/defender/report";
import { httpsUplink } from "xsiot/https/uplink";
import TLS from "embedded:io/socket/tcp/tls";
import Timer from "timer";
import KeyValue from "embedded:storage/key-value";
import Digital from "embedded:io/digital";
import { settings } from "./settings";
import { sample } from "./sensors";
import { emit } from "./trace";

const RETRY_US = 15 * 60 * 1_000_000;

interface Identity {
  thingName: string;
  certificate?: string;
  key?: string;
}

emit("boot", {
  version: settings.version,
  resetReason: resetReason(),
  wakeCause: wakeCause(),
  partition: ota.running(),
  otaState: ota.state(),
});

async function identity(): Promise<Identity> {
  if (settings.identity) return settings.identity; // flashed at the factory
  if (settings.thing) return { thingName: settings.thing }; // development: plain MQTT, no certificate
  const { cloud } = settings;
  if (!cloud.tlsPort || !cloud.caPem) throw new Error("no cloud.tlsPort/caPem in mc/config and no development thing name");
  const id = await provision({
    host: cloud.host,
    port: cloud.tlsPort,
    ca: cloud.caPem,
    clientId: settings.serial,
    templateName: settings.template,
    parameters: { SerialNumber: settings.serial, board: settings.board?.id ?? "unknown" },
    claim: settings.claim,
  });
  if (id.provisionedNow) emit("provisioned", { thing: id.thingName });
  return id;
}

const codeSigningKey = settings.codeSigningKey ? base64Decode(settings.codeSigningKey, 65) : undefined;
if (settings.codeSigningKey && !codeSigningKey) emit("error", { where: "settings", message: "codeSigningKey is not a base64 P-256 point: OTA disabled" });

/** "identify": blink the board LED `times` (1-10) so a person finds the node. */
function identify(payload: unknown): Promise<void> {
  const pin = settings.board?.pins?.led;
  const times = typeof payload === "object" && payload !== null ? Number((payload as { times?: unknown }).times ?? 3) : 3;
  if (pin === undefined) return Promise.reject(new Error("this board has no LED"));
  if (!Number.isInteger(times) || times < 1 || times > 10) return Promise.reject(new Error("times must be an integer 1..10"));
  const led = new Digital({ pin, mode: Digital.Output });
  let steps = times * 2;
  return new Promise((resolve) => {
    const tick = () => {
      led.write(steps & 1 ? 0 : 1);
      if (--steps > 0) Timer.set(tick, 200);
      else {
        led.write(0);
        led.close();
        resolve();
      }
    };
    tick();
  });
}

let defender: DefenderMetrics | undefined;
/** host:port of the cloud connection, for the Defender report's established connection. */
let remoteAddr = "";
const countersOf = (client: unknown) => (client as { counters?: NetworkCounters }).counters;

/** The persistent-session work of an uplink: shadow config and server time, commands, Defender metrics, then jobs (OTA among them). */
async function session(ctx: UplinkContext, agent: JobsAgent, otaAgent: OtaAgent | undefined): Promise<void> {
  let serverMs: number | undefined;
  let seenAt = 0;
  const shadow = new ShadowClient(ctx.client, { thingName: ctx.thing, timeoutMs: Math.min(5000, ctx.remainingMs()) });
  shadow.onDelta("*", (delta) => {
    // desired.config feeds the scheduler (validated there); reported mirrors what we run.
    if (delta.config !== undefined) ctx.setConfig(delta.config);
    return delta.config !== undefined ? { config: delta.config } : undefined;
  });
  try {
    const doc = await shadow.start();
    if (doc && typeof doc.timestamp === "number") {
      ctx.setServerTime(doc.timestamp * 1000);
      serverMs = doc.timestamp * 1000;
      seenAt = Date.now();
    }
    if (shadow.reported.version !== settings.version) await shadow.report({ version: settings.version, board: settings.board?.id ?? null });
  } catch (e) {
    emit("error", { where: "shadow", message: String(e) });
  } finally {
    shadow.close();
  }
  // Commands refuse what is past its deadline by this clock: the shadow's server time when this wake had it.
  const commands = new CommandHandler(ctx.client, {
    thingName: ctx.thing,
    now: () => (serverMs === undefined ? Date.now() : serverMs + (Date.now() - seenAt)),
    log: (line) => emit("command", { message: line }),
  });
  commands.on("identify", (c) => identify(c.payload));
  try {
    await commands.start();
  } catch (e) {
    emit("error", { where: "commands", message: String(e) });
  }
  const counters = countersOf(ctx.client);
  if (!defender && settings.defenderPeriodS > 0) defender = new DefenderMetrics({ thingName: ctx.thing, periodS: settings.defenderPeriodS });
  if (defender && counters) {
    try {
      if (await defender.report(ctx.client, counters, remoteAddr)) emit("defender", { reported: true });
    } catch (e) {
      emit("error", { where: "defender", message: String(e) });
    }
  }
  try {
    // A new image confirms itself (or rolls back) on this connection before anything else ends it.
    await otaAgent?.booted;
    await agent.start();
    await agent.idle(Math.max(0, ctx.remainingMs() - 500));
  } catch (e) {
    emit("error", { where: "jobs", message: String(e) });
  }
  await commands.idle(Math.max(0, ctx.remainingMs() - 500));
  commands.close();
  if (defender && counters) defender.settle(counters);
  ctx.setPendingJob(agent.current !== undefined);
}

function jobPending(): boolean {
  const kv = KeyValue.open({ path: "xsiot-jobs", format: "string" });
  try {
    return kv.read("exec") !== undefined;
  } finally {
    kv.close();
  }
}

async function main(): Promise<void> {
  let id: Identity;
  try {
    id = await identity();
  } catch (e) {
    const retryMs = e instanceof ProvisioningError ? e.retryAfterMs : RETRY_US / 1000;
    emit("error", { where: "identity", message: String(e), retryS: Math.round(retryMs / 1000) });
    deepSleep({ us: retryMs * 1000 });
  }
  emit("identity", { thing: id.thingName });
  const { cloud } = settings;
  const tls = id.certificate ? { ca: cloud.caPem, certificate: id.certificate, key: id.key } : undefined;
  remoteAddr = `${cloud.host}:${tls ? cloud.tlsPort : cloud.port}`;
  let agent: JobsAgent | undefined;
  let otaAgent: OtaAgent | undefined;
  await runWake({
    thing: id.thingName,
    mqtt: { host: cloud.host, port: tls ? cloud.tlsPort : cloud.port, tls, socket: tls ? TLS : undefined },
    // The energy comparison's HTTPS mode: one POST per message, publish only (no shadow, jobs or commands).
    transport: settings.transport === "https" && cloud.httpsPort ? httpsUplink(TLS as never, cloud.httpsPort) : undefined,
    config: settings.sleep,
    queue: settings.queue,
    telemetryFormat: settings.telemetryFormat,
    async sample() {
      const s = await sample(settings.board, settings.sht3x);
      emit("reading", { ...s });
      return { value: s.temperatureC, batteryMv: s.batteryMv };
    },
    wakeSources() {
      const door = settings.board?.pins?.door;
      if (door === undefined) return {};
      // Wake on the door's next change: armed for the level it is not at now.
      const pin = new Digital({ pin: door, mode: Digital.Input });
      const level = pin.read();
      pin.close();
      return { ext0: { pin: door, level: level ? 0 : 1 } };
    },
    readPin(pin) {
      const d = new Digital({ pin, mode: Digital.Input });
      const level = d.read();
      d.close();
      if (pin === settings.board?.pins?.door) emit("door", { open: level === 1 });
      return level;
    },
    // A job in progress, or a new image that must confirm itself on this boot, needs the cloud now.
    pendingJob: () => jobPending() || ota.state() === "pending-verify",
    onSession(ctx) {
      if (!agent) {
        agent = new JobsAgent(ctx.client, { thingName: ctx.thing });
        if (codeSigningKey) {
          otaAgent = new OtaAgent({ mqtt: ctx.client, thingName: ctx.thing, version: settings.version, publicKey: codeSigningKey, log: (m) => emit("ota", { message: m }) });
          agent.on("afr_ota", otaAgent.handler);
        }
      }
      return session(ctx, agent, otaAgent);
    },
    onWakeDone(r) {
      if (r.uplink) emit("uplink", { ok: r.result?.ok ?? false, acked: r.result?.acked ?? 0, through: r.result?.ackedThrough ?? 0, reasons: r.reasons, error: r.result?.error });
      emit("sleep", { ms: r.sleepMs, seq: r.seq, queued: r.queued, evicted: r.evicted });
    },
  });
}

main().catch((e: unknown) => {
  emit("error", { where: "main", message: String(e) });
  deepSleep({ us: RETRY_US });
});
