// The local cloud: an embedded MQTT broker (or an external one given by URL), the
// thing registry with per-thing topic policy, and services (shadow, jobs, ...)
// attached to a broker-agnostic bus, with state in SQLite under `dir`.
import { writeFileSync, rmSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureCa, ensureServerCert } from "../pki/index.ts";
import { EmbeddedBus, MqttBus, type Bus } from "./bus.ts";
import { startEmbeddedBroker, type EmbeddedBroker, type PlainMode } from "./broker.ts";
import { credentialsService, ThingCredentials } from "./credentials.ts";
import { chooseToken, isLoopbackHost, startHttp } from "./http.ts";
import { startHttpsDataPlane } from "./https.ts";
import { consoleLogger, type Logger } from "./log.ts";
import { Registry } from "./registry.ts";
import { builtinServices } from "./services.ts";
import { registeredServices, type CloudContext, type CloudService, type ServiceFactory } from "./service.ts";
import { Store } from "./store.ts";
import type { ShadowService } from "./shadow.ts";
import type { JobsService } from "./jobs.ts";

export { registerService, ApiError } from "./service.ts";
export type { CloudContext, CloudService, ServiceFactory, HttpRequest, HttpResult } from "./service.ts";
export type { Bus, BusMessage, BusHandler } from "./bus.ts";
export type { Thing, Identity } from "./registry.ts";
export type { Store, KvTable } from "./store.ts";
export type { Logger } from "./log.ts";
export { silentLogger, consoleLogger } from "./log.ts";
export { ShadowService } from "./shadow.ts";
export { JobsService } from "./jobs.ts";
export { CommandsService } from "./commands.ts";
export { DefenderService, BASELINE_PROFILE } from "./defender.ts";
export type { Alarm, SecurityProfile, StoredReport } from "./defender.ts";
export type { CommandExecution, CommandExecutionStatus, SendCommandInput } from "./commands.ts";
export type { Job, Execution, ExecutionStatus, CreateJobInput } from "./jobs.ts";

export const DEFAULT_CLOUD_DIR = ".xsiot";
export const STATE_FILE = "cloud.json";

export interface CloudOptions {
  /** State directory: cloud.db (SQLite), cloud.json (addresses), pki/ (unless pkiDir). */
  dir: string;
  pkiDir?: string;
  host?: string;
  /** Plain MQTT port (0: any free port). */
  port?: number;
  /** The plain MQTT listener. Default: on (client id = thing name) on loopback, off on any
   * other host. true off loopback, or "credentials" anywhere: on, and a client needs
   * username = thing name = client id and the thing's password (credentials.ts). */
  plainMqtt?: boolean | "credentials";
  /** Mutual-TLS MQTT port (0: any free port). */
  tlsPort?: number;
  /** HTTPS data plane (POST /topics/<topic>, mutual TLS, as AWS IoT's port 8443) on this port (0: any free
   * port); off unless given. Embedded broker only. */
  httpsPort?: number;
  /** HTTP operator API port (0: any free port). */
  httpPort?: number;
  /** Attach services to this external broker (mqtt://, mqtts://) instead of the embedded one. */
  brokerUrl?: string;
  log?: Logger;
  /** Extra services after the built-in and registered ones. */
  services?: ServiceFactory[];
  /** Register unknown things when they first connect (default true). */
  autoRegister?: boolean;
  /** ms per "minute" for job step timeouts (tests: small values). Default 60000. */
  minuteMs?: number;
  /** The cloud's clock, epoch ms (default Date.now). A test ties it to a virtual ESP32's clock so deadlines and
   * rate windows follow virtual time. */
  now?: () => number;
  /** Write `<dir>/cloud.json` for the CLI (default true). */
  writeStateFile?: boolean;
  /** HTTP API token. Default: XSIOT_TOKEN, else none on loopback and a fresh one on any other host (http.ts). */
  token?: string;
}

export interface Cloud {
  ports: { mqtt?: number; mqtts?: number; http: number; https?: number };
  /** mqtt://host:port of the embedded broker, or the external broker URL. */
  url: string;
  /** mqtts://host:port of the embedded mTLS listener (undefined with an external broker). */
  tlsUrl?: string;
  httpUrl: string;
  /** Token the HTTP API requires (undefined: open, loopback only). */
  token?: string;
  caPem: string;
  pkiDir: string;
  registry: Registry;
  store: Store;
  bus: Bus;
  shadows: ShadowService;
  jobs: JobsService;
  service<T extends CloudService>(name: string): T | undefined;
  /**
   * A device's request is still being worked on (e.g. an RSA key for CreateKeysAndCertificate,
   * 50-800 ms of host CPU). A virtual ESP32 on this cloud holds its clock meanwhile
   * (DeviceOptions.peerBusy), as the chip would wait in real time.
   */
  busy(): boolean;
  close(): Promise<void>;
}

export interface CloudStateFile {
  pid: number;
  url: string;
  tlsUrl?: string;
  httpUrl: string;
  caFile: string;
  /** HTTP API token (the file is then 0600). */
  token?: string;
}

export async function startCloud(opts: CloudOptions): Promise<Cloud> {
  const host = opts.host ?? "127.0.0.1";
  const log = opts.log ?? consoleLogger;
  const pkiDir = opts.pkiDir ?? join(opts.dir, "pki");
  const ca = await ensureCa(pkiDir);
  const store = new Store(join(opts.dir, "cloud.db"));
  const registry = new Registry(store);

  let broker: EmbeddedBroker | undefined;
  let serverCert: { certPem: string; keyPem: string } | undefined;
  let bus: Bus;
  try {
    if (opts.brokerUrl) {
      bus = await MqttBus.connect(opts.brokerUrl, log);
    } else {
      const server = (serverCert = await ensureServerCert(pkiDir, [host, "localhost", "127.0.0.1"].filter((h, i, a) => a.indexOf(h) === i)));
      broker = await startEmbeddedBroker({
        host,
        port: opts.port ?? 0,
        tlsPort: opts.tlsPort ?? 0,
        tls: { ca: ca.certPem, cert: server.certPem, key: server.keyPem },
        registry,
        log,
        autoRegister: opts.autoRegister ?? true,
        plain: plainMode(host, opts.plainMqtt),
        credentials: new ThingCredentials(store),
      });
      bus = new EmbeddedBus(broker.aedes, log);
    }
  } catch (e) {
    store.close();
    throw e;
  }

  const services: CloudService[] = [];
  const ctx: CloudContext = {
    bus,
    store,
    registry,
    log,
    now: opts.now ?? (() => Date.now()),
    minuteMs: opts.minuteMs ?? 60_000,
    service: <T extends CloudService>(name: string) => services.find((s) => s.name === name) as T | undefined,
  };
  const factories = [...builtinServices, credentialsService, ...registeredServices(), ...(opts.services ?? [])];
  for (const f of [...new Set(factories)]) {
    const s = f(ctx);
    if (services.some((o) => o.name === s.name)) throw new Error(`two cloud services named ${s.name}`);
    await s.start();
    services.push(s);
  }

  const tlsUrl = broker ? `mqtts://${host}:${broker.ports.mqtts}` : undefined;
  // With the plain listener off, the broker's address is its mTLS one.
  const brokerUrl = opts.brokerUrl ?? (broker!.ports.mqtt !== undefined ? `mqtt://${host}:${broker!.ports.mqtt}` : tlsUrl!);
  const token = chooseToken(host, opts.token);
  const http = await startHttp({
    host,
    token,
    port: opts.httpPort ?? 0,
    registry,
    services,
    log,
    health: () => ({ ok: true, url: brokerUrl, tlsUrl, services: services.map((s) => s.name) }),
  });
  const httpUrl = `http://${host}:${http.port}`;
  const https =
    opts.httpsPort !== undefined && serverCert
      ? await startHttpsDataPlane({ host, port: opts.httpsPort, tls: { ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem }, registry, bus, log, autoRegister: opts.autoRegister ?? true })
      : undefined;
  const stateFile = join(opts.dir, STATE_FILE);
  if (opts.writeStateFile !== false) {
    const state: CloudStateFile = { pid: process.pid, url: brokerUrl, tlsUrl, httpUrl, caFile: ca.certPath, token };
    writeFileSync(stateFile, JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
  }
  log.info(`cloud up: mqtt ${brokerUrl}${tlsUrl ? `, mTLS ${tlsUrl}` : ""}, http ${httpUrl}, services ${services.map((s) => s.name).join(", ")}`);
  log.info(`console ${httpUrl}/${token ? `  token: ${token}` : ""}`);

  let closed = false;
  return {
    ports: { mqtt: broker?.ports.mqtt, mqtts: broker?.ports.mqtts, http: http.port, https: https?.port },
    url: brokerUrl,
    tlsUrl,
    httpUrl,
    token,
    caPem: ca.certPem,
    pkiDir,
    registry,
    store,
    bus,
    shadows: ctx.service<ShadowService>("shadow")!,
    jobs: ctx.service<JobsService>("jobs")!,
    service: ctx.service,
    busy: () => services.some((s) => s.busy?.() === true),
    async close() {
      if (closed) return;
      closed = true;
      http.server.closeAllConnections();
      await new Promise<void>((r) => http.server.close(() => r()));
      if (https) {
        https.server.closeAllConnections();
        await new Promise<void>((r) => https.server.close(() => r()));
      }
      for (const s of [...services].reverse()) await s.stop?.();
      await bus.close();
      await broker?.close();
      store.close();
      if (opts.writeStateFile !== false) {
        try {
          const cur = JSON.parse(readFileSync(stateFile, "utf8")) as CloudStateFile;
          if (cur.pid === process.pid && cur.httpUrl === httpUrl) rmSync(stateFile);
        } catch {}
      }
    },
  };
}

function plainMode(host: string, asked: CloudOptions["plainMqtt"]): PlainMode {
  if (asked === "credentials") return "credentials";
  if (isLoopbackHost(host)) return asked === false ? "off" : "open";
  return asked === true ? "credentials" : "off";
}

/** Reads `<dir>/cloud.json` written by a running cloud. */
export function readCloudState(dir = DEFAULT_CLOUD_DIR): CloudStateFile {
  const file = join(dir, STATE_FILE);
  try {
    return JSON.parse(readFileSync(file, "utf8")) as CloudStateFile;
  } catch {
    throw new Error(`no running cloud found (${file} missing): start one with \`xsiot cloud --dir ${dir}\` or pass --cloud URL`);
  }
}
