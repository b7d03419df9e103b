// Picks the target for this run (XSIOT_HIL_TARGET: "sim", the default, or
// "serial:<port>") and sets up the local cloud the scenarios assert through.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger, consoleLogger, type Cloud } from "../tools/cloud/index.ts";
import { issueClaimCert, type IssuedFiles } from "../tools/pki/index.ts";
import type { ProvisioningService } from "../tools/cloud/provisioning.ts";
import type { Scenario } from "../tools/sim/scenario.ts";
import type { Target } from "./target.ts";
import { SimTarget, type SimTargetOptions } from "./targets/sim.ts";
import { SerialTarget } from "./targets/serial.ts";

export const TARGET = process.env.XSIOT_HIL_TARGET ?? "sim";
export const onSim = TARGET === "sim";

/** Scenario settings both targets share: short intervals so a board run takes minutes, not days. */
export const HIL_SLEEP = { sampleS: 60, uplinkS: 600, batch: 48, checkpointEvery: 1 };

export interface Bench {
  cloud: Cloud;
  claim: IssuedFiles;
  target(options?: SimTargetOptions & { scenario?: Scenario }): Target;
  /** Settings every device gets (the board's are flashed with the same). */
  settings(serial: string, extra?: Record<string, unknown>): Record<string, unknown>;
  close(): Promise<void>;
}

export async function bench(): Promise<Bench> {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-hil-cloud-"));
  // A board reaches the cloud over the LAN; the virtual ESP32 over loopback.
  const host = onSim ? "127.0.0.1" : (process.env.XSIOT_HIL_CLOUD_HOST ?? "0.0.0.0");
  const cloud = await startCloud({ dir, host, port: 0, tlsPort: onSim ? 0 : 8883, httpPort: 0, log: process.env.XSIOT_DEBUG ? consoleLogger : silentLogger });
  const claim = await issueClaimCert(cloud.pkiDir, "factory");
  cloud.service<ProvisioningService>("provisioning")!.putTemplate({
    templateName: "sensors",
    serialPattern: "SN-[0-9]{3}",
    thingNamePattern: "sensor-${SerialNumber}",
    attributes: { board: "${board}" },
  });
  const targets: Target[] = [];
  return {
    cloud,
    claim,
    target(options) {
      const t = onSim ? new SimTarget(options) : new SerialTarget(TARGET.slice("serial:".length));
      targets.push(t);
      return t;
    },
    settings(serial, extra = {}) {
      return { serial, template: "sensors", claim: { certificate: claim.certPem, key: claim.keyPem }, sleep: HIL_SLEEP, ...extra };
    },
    async close() {
      for (const t of targets) await t.stop();
      await cloud.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function cloudOf(b: Bench) {
  return { host: "127.0.0.1", port: b.cloud.ports.mqtt!, tlsPort: b.cloud.ports.mqtts, caPem: b.cloud.caPem };
}

/** Collects telemetry the cloud receives from one thing: sequence number -> reading. */
export async function telemetry(b: Bench, thing: string) {
  const seen = new Map<number, { t: number; v: number | null; flags: number }>();
  const duplicates: number[] = [];
  /** Payloads the handler could not read. The bus swallows a handler's exceptions, so a
   * bad message is recorded here and the scenario asserts this list is empty. */
  const errors: string[] = [];
  await b.cloud.bus.subscribe(`dt/${thing}/telemetry`, ({ payload }) => {
    try {
      const msg = JSON.parse(payload.toString()) as { fields: string[]; r: (number | null)[][] };
      const at = (name: string) => msg.fields.indexOf(name);
      for (const row of msg.r) {
        const seq = row[at("seq")] as number;
        if (seen.has(seq)) duplicates.push(seq);
        seen.set(seq, { t: row[at("t")] as number, v: row[at("v")], flags: row[at("flags")] as number });
      }
    } catch (e) {
      errors.push(`${(e as Error).message}: ${payload.toString().slice(0, 200)}`);
    }
  });
  return { seen, duplicates, errors };
}
