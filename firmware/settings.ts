// The node's settings: mc/config (built into the image, or overlaid per device
// by the virtual ESP32), with defaults. Everything here is checked before use:
// a bad setting is a clear trace and a safe default, not a crash.
import config from "mc/config";
import type { BoardConfig } from "./sensors";
import type { SleepConfig } from "xsiot/sleep/config";

export interface CloudSettings {
  host: string;
  /** Mutual-TLS MQTT port (production). */
  tlsPort?: number;
  /** Plain MQTT port (local development only: the thing name is the client id). */
  port?: number;
  /** PEM of the CA that signs the broker's certificate. */
  caPem?: string;
  /** HTTPS data plane port (mutual TLS): used only in the "https" energy-comparison mode. */
  httpsPort?: number;
}

export interface Settings {
  version: string;
  board: BoardConfig;
  cloud: CloudSettings;
  serial: string;
  template: string;
  claim?: { certificate: string; key: string };
  /** Factory-provisioned identity (xsiot provision device): no claim needed. */
  identity?: { thingName: string; certificate: string; key: string };
  /** Development: connect over plain MQTT as this thing, no provisioning. */
  thing?: string;
  sleep: Partial<SleepConfig>;
  /** Flash queue size (readings = perChunk x maxChunks; default 32 x 64): small in torture runs so outages force eviction. */
  queue?: { perChunk?: number; maxChunks?: number };
  sht3x: boolean;
  /** Telemetry as JSON on dt/<thing>/telemetry (default) or CBOR on dt/<thing>/telemetry/cbor. */
  telemetryFormat: "json" | "cbor";
  /** Base64 of the 65-byte uncompressed P-256 code-signing public key (OTA). */
  codeSigningKey?: string;
  /** How batches travel: "mqtt" (default) or "https" (one POST per message, publish only: for energy comparison). */
  transport: "mqtt" | "https";
  /** Least seconds between two Device Defender reports, each riding an uplink (0: none). Default 3600; AWS's minimum is 300. */
  defenderPeriodS: number;
}

const c = config as Record<string, unknown>;
const text = (v: unknown, fallback: string) => (typeof v === "string" && v.length > 0 && v.length < 256 ? v : fallback);
const cloud = (typeof c.cloud === "object" && c.cloud !== null ? c.cloud : {}) as Record<string, unknown>;
const port = (v: unknown) => (Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536 ? (v as number) : undefined);

function identityOf(v: unknown): Settings["identity"] {
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  return typeof o.thingName === "string" && typeof o.certificate === "string" && typeof o.key === "string"
    ? { thingName: o.thingName, certificate: o.certificate, key: o.key }
    : undefined;
}

function queueOf(v: unknown): Settings["queue"] {
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const int = (x: unknown, lo: number, hi: number) => (Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi ? (x as number) : undefined);
  return { perChunk: int(o.perChunk, 1, 64), maxChunks: int(o.maxChunks, 2, 4096) };
}

export const settings: Settings = {
  version: text(c.version, "0.0.0"),
  board: c.board as BoardConfig,
  cloud: {
    host: text(cloud.host, "127.0.0.1"),
    tlsPort: port(cloud.tlsPort),
    port: port(cloud.port),
    caPem: typeof cloud.caPem === "string" ? cloud.caPem : undefined,
    httpsPort: port(cloud.httpsPort),
  },
  serial: text(c.serial, "SN-000"),
  template: text(c.template, "sensors"),
  claim:
    typeof c.claim === "object" && c.claim !== null && typeof (c.claim as Record<string, unknown>).certificate === "string"
      ? (c.claim as { certificate: string; key: string })
      : undefined,
  identity: identityOf(c.identity),
  thing: typeof c.thing === "string" ? c.thing : undefined,
  sleep: { ...(typeof c.sleep === "object" && c.sleep !== null ? (c.sleep as Partial<SleepConfig>) : {}), ...(c.mode === "naive" || c.mode === "batched" ? { mode: c.mode } : c.mode === "https" ? { mode: "batched" } : {}) },
  queue: queueOf(c.queue),
  sht3x: c.sht3x === true,
  telemetryFormat: c.telemetryFormat === "cbor" ? "cbor" : "json",
  codeSigningKey: typeof c.codeSigningKey === "string" ? c.codeSigningKey : undefined,
  transport: c.mode === "https" || c.transport === "https" ? "https" : "mqtt",
  defenderPeriodS: Number.isInteger(c.defenderPeriodS) && (c.defenderPeriodS as number) >= 0 ? (c.defenderPeriodS as number) : 3600,
};
