// Fleet provisioning by claim on the device: the ProvisioningMachine over an
// MQTTClient with the claim certificate, and the identity kept in key-value storage.
//
// Storage (namespace "xsiot-prov", NVS keys <= 15 chars, values <= 3999 chars):
//   claimCert, claimKey   the claim, when it lives in storage (deleted once provisioned)
//   cert, key             the thing's certificate and key
//   thing                 the thing name: written LAST, it is the commit mark
//   fails                 consecutive failures (for the retry backoff)
// Each key-value write is atomic, so a power cut anywhere leaves either no "thing"
// (not provisioned: start again with the claim; a certificate created before the cut
// was never activated and is harmless) or "thing" with its certificate and key
// already written (provisioned). The claim is deleted only after the commit mark.
import KeyValue, { type Storage } from "embedded:storage/key-value";
import { deviceTimers } from "../timer/timers";
import TLS from "embedded:io/socket/tcp/tls";
import { MQTTClient } from "../mqtt/client";
import { ProvisioningMachine, type Action, type Failure, type Identity } from "./machine";
import { CERT_LABELS, isPem, isValidThingName, KEY_LABELS, MAX_PEM_CHARS } from "./messages";

export type { Identity, Failure } from "./machine";

export const STORE_PATH = "xsiot-prov";
export const KEYS = { thing: "thing", cert: "cert", key: "key", claimCert: "claimCert", claimKey: "claimKey", fails: "fails" } as const;

export interface ProvisionOptions {
  /** Broker (AWS IoT data endpoint or the local cloud's mTLS listener). */
  host: string;
  port?: number;
  /** CA of the broker's server certificate (PEM). */
  ca: string;
  /** MQTT client id for the claim connection: the serial number. */
  clientId: string;
  templateName: string;
  /** Template parameters, e.g. { SerialNumber, board }. */
  parameters: Record<string, string>;
  /** The claim certificate and key; when absent they are read from storage (claimCert, claimKey). */
  claim?: { certificate: string; key: string };
  /**
   * create-from-csr: a PEM CSR and the private key the device already holds. On a board
   * the key is made on the chip (mbedTLS / secure element) and never leaves it; the
   * virtual ESP32 has no native key generation, so the app passes both.
   */
  csr?: { csr: string; key: string };
  /** Overall deadline for connect + create + provision (default 30000 ms). */
  timeoutMs?: number;
  version?: 4 | 5;
  /** Retry delay after a failure: min(maxMs, minMs * 2^(failures-1)) plus up to 10% (default 60 s .. 24 h). */
  backoff?: { minMs: number; maxMs: number };
  /** Key-value namespace (default "xsiot-prov"). */
  path?: string;
  /** Progress lines (default trace). Never given secrets. */
  log?: (line: string) => void;
}

export interface ProvisionResult extends Identity {
  /** True when this call provisioned the device; false when the identity was already stored. */
  provisionedNow: boolean;
  deviceConfiguration: Record<string, string>;
}

/** Provisioning failed; the claim is kept. Sleep retryAfterMs, then call provision() again. */
export class ProvisioningError extends Error {
  constructor(
    readonly failure: Failure,
    /** Consecutive failures so far, this one included (kept in storage). */
    readonly attempts: number,
    readonly retryAfterMs: number,
  ) {
    super(
      `provisioning ${failure.kind} at ${failure.step}: ${failure.message}` +
        (failure.rejection ? ` (${failure.rejection.statusCode} ${failure.rejection.errorCode}: ${failure.rejection.errorMessage})` : ""),
    );
  }
}
// `name` on the prototype: `this.name = ...` throws where Error.prototype is frozen (Moddable).
Object.defineProperty(ProvisioningError.prototype, "name", { value: "ProvisioningError", configurable: true, writable: true });

function open(path: string): Storage {
  return KeyValue.open({ path, format: "string" });
}
function readString(kv: Storage, key: string): string | undefined {
  const v = kv.read(key);
  return typeof v === "string" ? v : undefined;
}
function checkedWrite(kv: Storage, key: string, value: string): void {
  if (value.length > MAX_PEM_CHARS) throw new RangeError(`${key}: ${value.length} chars exceed the NVS string limit (${MAX_PEM_CHARS})`);
  kv.write(key, value);
}

/** The stored thing identity, or undefined if the device is not provisioned. */
export function loadIdentity(path = STORE_PATH): Identity | undefined {
  const kv = open(path);
  try {
    const thingName = readString(kv, KEYS.thing);
    if (thingName === undefined || !isValidThingName(thingName)) return undefined;
    const certificate = readString(kv, KEYS.cert);
    const key = readString(kv, KEYS.key);
    if (!isPem(certificate, CERT_LABELS) || !isPem(key, KEY_LABELS)) return undefined;
    return { thingName, certificate, key };
  } finally {
    kv.close();
  }
}

/** Puts a claim in storage (factory step). */
export function storeClaim(certificate: string, key: string, path = STORE_PATH): void {
  if (!isPem(certificate, CERT_LABELS) || !isPem(key, KEY_LABELS)) throw new RangeError("claim: PEM certificate and key expected");
  const kv = open(path);
  try {
    checkedWrite(kv, KEYS.claimCert, certificate);
    checkedWrite(kv, KEYS.claimKey, key);
  } finally {
    kv.close();
  }
}

/** Whether a claim is in storage. */
export function hasStoredClaim(path = STORE_PATH): boolean {
  const kv = open(path);
  try {
    return readString(kv, KEYS.claimCert) !== undefined && readString(kv, KEYS.claimKey) !== undefined;
  } finally {
    kv.close();
  }
}

/** Writes the identity with "thing" last, then forgets the claim and the failure count. */
function commit(path: string, id: Identity): void {
  const kv = open(path);
  try {
    checkedWrite(kv, KEYS.cert, id.certificate);
    checkedWrite(kv, KEYS.key, id.key);
    checkedWrite(kv, KEYS.thing, id.thingName);
    forgetClaim(kv);
  } finally {
    kv.close();
  }
}

function forgetClaim(kv: Storage): void {
  if (kv.read(KEYS.claimCert) !== undefined) kv.delete(KEYS.claimCert);
  if (kv.read(KEYS.claimKey) !== undefined) kv.delete(KEYS.claimKey);
  if (kv.read(KEYS.fails) !== undefined) kv.delete(KEYS.fails);
}

function countFailure(path: string): number {
  const kv = open(path);
  try {
    const n = Number(readString(kv, KEYS.fails) ?? "0");
    const next = (Number.isInteger(n) && n >= 0 && n < 1e6 ? n : 0) + 1;
    kv.write(KEYS.fails, String(next));
    return next;
  } finally {
    kv.close();
  }
}

export function retryDelayMs(failures: number, backoff = { minMs: 60_000, maxMs: 86_400_000 }): number {
  const base = Math.min(backoff.maxMs, backoff.minMs * Math.pow(2, Math.min(30, Math.max(0, failures - 1))));
  return Math.round(base * (1 + Math.random() * 0.1));
}

/**
 * Returns the device's thing identity: the stored one, or a new one obtained with the
 * claim (then stored, and the claim deleted from storage). Rejects with a
 * ProvisioningError (claim kept) that says how long to wait before trying again.
 * Call it at every boot: it is what makes a power cut at any point safe.
 */
export function provision(o: ProvisionOptions): Promise<ProvisionResult> {
  const path = o.path ?? STORE_PATH;
  const log = o.log ?? ((line: string) => trace(line + "\n"));
  const stored = loadIdentity(path);
  if (stored) {
    const kv = open(path);
    try {
      forgetClaim(kv); // a cut after the commit mark may have left it
    } finally {
      kv.close();
    }
    return Promise.resolve({ ...stored, provisionedNow: false, deviceConfiguration: {} });
  }
  const failed = (failure: Failure): ProvisioningError => {
    const attempts = countFailure(path);
    return new ProvisioningError(failure, attempts, retryDelayMs(attempts, o.backoff));
  };

  let claim = o.claim;
  if (!claim) {
    const kv = open(path);
    try {
      const certificate = readString(kv, KEYS.claimCert);
      const key = readString(kv, KEYS.claimKey);
      if (certificate !== undefined && key !== undefined) claim = { certificate, key };
    } finally {
      kv.close();
    }
  }
  if (!claim || !isPem(claim.certificate, CERT_LABELS) || !isPem(claim.key, KEY_LABELS))
    return Promise.reject(failed({ kind: "rejected", step: "connect", message: "no identity and no usable claim certificate (storage or options)" }));
  if (o.csr && !isPem(o.csr.key, KEY_LABELS)) return Promise.reject(failed({ kind: "rejected", step: "connect", message: "csr.key: a PEM private key expected" }));

  let machine: ProvisioningMachine;
  try {
    machine = new ProvisioningMachine({ templateName: o.templateName, parameters: o.parameters, csr: o.csr });
  } catch (e) {
    return Promise.reject(failed({ kind: "rejected", step: "connect", message: (e as Error).message }));
  }

  return new Promise<ProvisionResult>((resolve, reject) => {
    let finished = false;
    let client: MQTTClient | undefined;
    const deadline = deviceTimers.setTimeout(() => run(machine.timeout()), o.timeoutMs ?? 30_000);
    const end = () => {
      finished = true;
      deviceTimers.clearTimeout(deadline);
      const c = client;
      client = undefined;
      c?.close();
    };
    const run = (actions: Action[]) => {
      for (let i = 0; i < actions.length && !finished; i++) {
        const a = actions[i];
        switch (a.type) {
          case "trace":
            log(a.text);
            break;
          case "subscribe":
            client!.subscribe(a.filters, { qos: 1 }).then(
              (results) => {
                for (const r of results) if ("reasonCode" in r) log(`provisioning: subscription to ${r.filter} refused (0x${r.reasonCode.toString(16)})`);
              },
              () => {},
            );
            break;
          case "publish":
            client!.publish(a.topic, a.payload, { qos: 1 }).catch((e: Error) => run(machine.lost(`publish on ${a.topic} failed: ${e.message}`)));
            break;
          case "commit":
            end();
            try {
              commit(path, a.identity);
            } catch (e) {
              reject(failed({ kind: "connection", step: "store", message: `could not store the identity: ${(e as Error).message}` }));
              return;
            }
            log(`provisioning: provisioned as ${a.identity.thingName}; claim no longer used`);
            resolve({ ...a.identity, provisionedNow: true, deviceConfiguration: a.deviceConfiguration });
            return;
          case "fail":
            end();
            reject(failed(a.failure));
            return;
        }
      }
    };
    log(`provisioning: connecting to ${o.host} with the claim as ${o.clientId}`);
    client = new MQTTClient({
      host: o.host,
      port: o.port,
      clientId: o.clientId,
      tls: { ca: o.ca, certificate: claim!.certificate, key: claim!.key },
      socket: TLS,
      version: o.version ?? 5,
      keepAlive: 60,
      session: { clean: true },
      reconnect: false,
      onConnect: () => run(machine.connected()),
      onMessage: (topic, payload) => run(machine.message(topic, payload)),
      onClose: (error) => {
        if (!finished) run(machine.lost(error ? error.message : "connection closed"));
      },
    });
  });
}
