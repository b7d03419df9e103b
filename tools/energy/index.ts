// Energy report: runs an app on the virtual ESP32 against an in-process local
// cloud (mutual TLS, as a real fleet would connect) for some virtual days, and
// tells where the charge went — by power state, as average current and projected
// battery life — next to the naive configuration (connect and publish every
// reading) run in the same invocation. Figures come from the board file
// (boards/<id>.json, each with its source) through the sim's energy meter.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger } from "../cloud/index.ts";
import { issueDeviceCert } from "../pki/index.ts";
import { buildApp, type BuiltApp } from "../sim/image.ts";
import { loadBoard, type Board } from "../sim/board.ts";
import { loadScenario, parseScenario, type Scenario } from "../sim/scenario.ts";

/** Without --scenario: a steady sensor input and a fresh 2 x AA pack (3.0 V at the divider midpoint x2), no events. */
export const DEFAULT_SCENARIO = JSON.stringify({ adc: { "36": { type: "sine", mean: 1000, amplitude: 50, period: "24h" }, "39": 1500 } });
import { VirtualDevice, type TraceEvent } from "../sim/device.ts";
import { ENERGY_STATES, type EnergyState } from "../sim/energy.ts";

export const REPORT_STATES = ["deep sleep", "sampling wakes", "Wi-Fi join", "TLS", "MQTT", "OTA"] as const;
export type ReportState = (typeof REPORT_STATES)[number];

export interface EnergyRun {
  mode: string;
  days: number;
  mah: Record<ReportState, number>;
  ms: Record<ReportState, number>;
  totalMah: number;
  averageUa: number;
  projectedYears: number;
  batteryMah: number;
  wakes: number;
  uplinks: number;
  readings: number;
  /** Current over the first day: [virtual ms, mA] steps. */
  day: [number, number][];
  /** Real ms this mode's device took for its virtual days (from its first boot, the modes running side by side). */
  wallMs: number;
}

export interface EnergyReportResult {
  app: string;
  board: Board;
  days: number;
  runs: EnergyRun[];
  /** naive average current / scheduled average current. */
  ratio: number;
  /** The figure that dominates the scheduled run. */
  dominant: { state: ReportState; share: number };
  wallMs: number;
}

export interface EnergyOptions {
  app: string | BuiltApp;
  board: string | Board;
  days: number;
  scenario?: string | Scenario;
  /** Modes to run, set through mc/config "mode" (default ["batched", "naive"]). */
  modes?: string[];
  /** Use plain MQTT instead of mutual TLS. */
  plain?: boolean;
  /** Real ms of network silence before virtual time jumps (default 250: the cloud's answers are not instant). */
  quietMs?: number;
  deviceConfig?: Record<string, unknown>;
  onProgress?(line: string): void;
}

const zeroStates = () => Object.fromEntries(REPORT_STATES.map((s) => [s, 0])) as Record<ReportState, number>;

/** Folds the sim meter's states into the report's: boot+cpu = sampling wakes, radio+tx = MQTT (or OTA while an update is open). */
function fold(delta: Record<EnergyState, number>, into: Record<ReportState, number>, ota: boolean): void {
  into["deep sleep"] += delta["deep-sleep"];
  into["sampling wakes"] += delta.boot + delta.cpu;
  into["Wi-Fi join"] += delta["wifi-join"];
  into.TLS += delta.tls;
  into[ota ? "OTA" : "MQTT"] += delta.radio + delta.tx;
  const extra = delta as Record<string, number>;
  if (typeof extra.ota === "number") into.OTA += extra.ota;
}

export async function runEnergy(options: EnergyOptions): Promise<EnergyReportResult> {
  const started = performance.now();
  const board = typeof options.board === "string" ? loadBoard(options.board) : options.board;
  const image = typeof options.app === "string" ? buildApp(options.app) : options.app;
  const days = options.days;
  if (!(days > 0 && days <= 3650)) throw new RangeError(`days must be in (0, 3650], got ${days}`);
  const dir = mkdtempSync(join(tmpdir(), "xsiot-energy-"));
  // httpsPort: the HTTPS data plane for the "https" mode (one TLS handshake and POST per message).
  const cloud = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, httpsPort: 0, log: silentLogger, writeStateFile: false });
  const runs: EnergyRun[] = [];
  try {
    // Modes run side by side: each is its own engine process with its own virtual clock (2 cores, 2 modes).
    const runMode = async (mode: string): Promise<EnergyRun> => {
      const thing = `energy-${mode}`;
      const tls = options.plain ? undefined : await issueDeviceCert(cloud.pkiDir, thing);
      const scenario = typeof options.scenario === "string" ? loadScenario(options.scenario) : (options.scenario ?? parseScenario(DEFAULT_SCENARIO, "<default energy scenario>"));
      const deviceDir = join(dir, thing);
      const byState = zeroStates();
      const msByState = zeroStates();
      let last = Object.fromEntries(ENERGY_STATES.map((s) => [s, 0])) as Record<EnergyState, number>;
      let lastMs = { ...last };
      let lastT = 0;
      let lastTotal = 0;
      let otaOpen = false;
      let uplinks = 0;
      const day: [number, number][] = [];
      let device!: VirtualDevice;
      const snapshot = () => {
        const r = device.energy.report(device.now);
        const d = {} as Record<EnergyState, number>;
        const dm = {} as Record<EnergyState, number>;
        for (const s of ENERGY_STATES) {
          d[s] = r.mah[s] - last[s];
          dm[s] = r.ms[s] - lastMs[s];
        }
        fold(d, byState, otaOpen);
        fold(dm, msByState, otaOpen);
        last = r.mah;
        lastMs = r.ms;
        if (device.now <= 86_400_000 && device.now > lastT) {
          day.push([lastT, ((r.totalMah - lastTotal) * 3_600_000) / (device.now - lastT)]);
          lastT = device.now;
          lastTotal = r.totalMah;
        }
      };
      device = new VirtualDevice({
        name: thing,
        dir: deviceDir,
        board,
        image,
        scenario,
        quietMs: options.quietMs ?? 50, // requests awaiting answers hold virtual time anyway (the sim's reply wait)
        // A burst the cloud writes in pieces may reach the firmware as two deliveries instead of
        // one: a few hundred XS units, nothing to the energy figures, and 15% less real time.
        settleMs: 1,
        deviceConfig: {
          thing,
          deviceName: thing,
          mode,
          mqttHost: "127.0.0.1",
          mqttPort: tls ? cloud.ports.mqtts : cloud.ports.mqtt,
          ...(tls ? { tls: { ca: cloud.caPem, certificate: tls.certPem, key: tls.keyPem } } : {}),
          // The same, in the reference firmware's settings (firmware/settings.ts).
          cloud: { host: "127.0.0.1", port: cloud.ports.mqtt, tlsPort: cloud.ports.mqtts, httpsPort: cloud.ports.https, caPem: cloud.caPem },
          ...(tls ? { identity: { thingName: thing, certificate: tls.certPem, key: tls.keyPem } } : {}),
          ...options.deviceConfig,
        },
        onTrace: (e: TraceEvent) => {
          if (e.type === "boot" || e.type === "sleep" || e.type === "wifi-join" || e.type === "socket-connected" || e.type === "socket-close" || e.type.startsWith("update-")) snapshot();
          if (e.type === "update-open") otaOpen = true;
          if (e.type === "update-complete" || e.type === "update-cancel" || e.type === "boot") otaOpen = false;
          if (e.type === "wifi-join") uplinks++;
        },
      });
      device.storage.durable = false; // its folder is removed after the run: no host-disk flush per NVS write
      const modeStarted = performance.now();
      let wallMs = 0;
      try {
        let reported = 0;
        for (let d = 1; d <= Math.ceil(days); d++) {
          await device.run(Math.min(d, days) * 86_400_000);
          if (options.onProgress && performance.now() - reported > 2000) {
            reported = performance.now();
            options.onProgress(`${mode}: day ${d}/${Math.ceil(days)}`);
          }
          if (device.summary.stoppedBecause) throw new Error(`${mode}: the device stopped: ${device.summary.stoppedBecause}`);
        }
        snapshot();
        wallMs = performance.now() - modeStarted;
      } finally {
        device.shutdown();
      }
      const r = device.energy.report(device.now);
      return {
        mode,
        days,
        mah: byState,
        ms: msByState,
        totalMah: r.totalMah,
        averageUa: r.averageUa,
        projectedYears: r.projectedYears,
        batteryMah: r.batteryMah,
        wakes: device.summary.boots,
        uplinks,
        readings: device.summary.boots,
        day,
        wallMs,
      };
    };
    runs.push(...(await Promise.all((options.modes ?? ["batched", "naive"]).map(runMode))));
  } finally {
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const batched = runs.find((r) => r.mode === "batched") ?? runs.find((r) => r.mode !== "naive") ?? runs[0];
  const naive = runs.find((r) => r.mode === "naive");
  const top = REPORT_STATES.map((s) => ({ state: s, share: batched.mah[s] / batched.totalMah })).sort((a, b) => b.share - a.share)[0];
  return {
    app: typeof options.app === "string" ? options.app : image.info.app,
    board,
    days,
    runs,
    ratio: naive && naive !== batched ? naive.averageUa / batched.averageUa : NaN,
    dominant: top,
    wallMs: performance.now() - started,
  };
}

export function formatReport(r: EnergyReportResult): string {
  const lines: string[] = [];
  const b = r.board;
  lines.push(`Energy: ${r.app} on ${b.id} (${b.name}), ${r.days} virtual day(s), battery ${b.battery.capacityMah} mAh (${b.battery.cells})`);
  const head = ["state".padEnd(16), ...r.runs.map((x) => `${x.mode} mAh`.padStart(14) + "  share")].join(" ");
  lines.push(head);
  for (const s of REPORT_STATES)
    lines.push([s.padEnd(16), ...r.runs.map((x) => x.mah[s].toFixed(3).padStart(14) + `  ${((100 * x.mah[s]) / x.totalMah).toFixed(1).padStart(4)}%`)].join(" "));
  lines.push([("total").padEnd(16), ...r.runs.map((x) => x.totalMah.toFixed(3).padStart(14) + "       ")].join(" "));
  for (const x of r.runs)
    lines.push(`${x.mode}: average ${x.averageUa.toFixed(1)} uA, projected battery life ${x.projectedYears.toFixed(2)} years (self-discharge not included), ${x.wakes} boots, ${x.uplinks} Wi-Fi joins`);
  if (Number.isFinite(r.ratio)) lines.push(`ratio naive / batched average current: ${r.ratio.toFixed(2)}x`);
  const mqtt = r.runs.find((x) => x.mode === "batched");
  const https = r.runs.find((x) => x.mode === "https");
  if (mqtt && https) lines.push(`ratio https / batched (MQTT) average current: ${(https.averageUa / mqtt.averageUa).toFixed(2)}x (the same batches, each message a TLS handshake and a POST)`);
  lines.push(`dominant figure (batched): ${r.dominant.state} ${(100 * r.dominant.share).toFixed(1)}%`);
  const perDay = (x: EnergyRun) => `${x.mode} ${(x.wallMs / 1000).toFixed(1)} s (${(x.wallMs / 1000 / x.days).toFixed(2)} s per virtual day)`;
  lines.push(`real time: ${r.runs.map(perDay).join(", ")}; ${(r.wallMs / 1000).toFixed(1)} s in all, modes side by side`);
  const p = b.power;
  lines.push(
    `board figures: deep sleep ${p.deepSleepUa.value} + board ${p.boardSleepUa.value} uA, CPU ${p.cpuActiveMa.value} mA, Wi-Fi RX ${p.wifiRxMa.value} / TX ${p.wifiTxMa.value} mA, join ${p.wifiJoinMs.value} ms (cached ${p.wifiJoinCachedMs.value} ms), TLS ${p.tlsHandshakeMs.value} ms, boot ${p.bootMs.value} ms`,
  );
  return lines.join("\n");
}
