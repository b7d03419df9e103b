// Fleet provisioning topics and bounded validation of every answer the cloud sends.
// Pure functions: bytes in, checked values out; nothing here trusts the cloud.
import { utf8String } from "../text/utf8";

export const CREATE_TOPIC = "$aws/certificates/create/json";
export const CREATE_FROM_CSR_TOPIC = "$aws/certificates/create-from-csr/json";
export function provisionTopic(templateName: string): string {
  return `$aws/provisioning-templates/${templateName}/provision/json`;
}

/** Largest answer accepted (a create answer with certificate and key is ~1.2 KB). */
export const MAX_ANSWER_BYTES = 8192;
/** ESP-IDF NVS strings are limited to 4000 bytes with the terminating NUL. */
export const MAX_PEM_CHARS = 3999;
export const MAX_TOKEN_CHARS = 512;
export const MAX_THING_NAME = 128;
const TEMPLATE_NAME = /^[0-9A-Za-z_-]{1,36}$/;
const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const CERT_ID = /^[0-9a-f]{64}$/;
const TOKEN = /^[\x21-\x7e]{1,512}$/;
const PARAM_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

export class ProvisioningMessageError extends Error {}
// `name` on the prototype: `this.name = ...` throws where Error.prototype is frozen (Moddable).
Object.defineProperty(ProvisioningMessageError.prototype, "name", { value: "ProvisioningMessageError", configurable: true, writable: true });

export function isValidTemplateName(name: string): boolean {
  return TEMPLATE_NAME.test(name);
}
export function isValidThingName(name: string): boolean {
  return THING_NAME.test(name);
}

/** True for one PEM block of the given label(s), bounded, with base64 body lines only. */
export function isPem(text: unknown, labels: string[]): text is string {
  if (typeof text !== "string" || text.length < 40 || text.length > MAX_PEM_CHARS) return false;
  const body = text.trim().split("\n");
  if (body.length < 3) return false;
  const first = body[0].trim();
  const last = body[body.length - 1].trim();
  let ok = false;
  for (let i = 0; i < labels.length; i++) if (first === `-----BEGIN ${labels[i]}-----` && last === `-----END ${labels[i]}-----`) ok = true;
  if (!ok) return false;
  for (let i = 1; i < body.length - 1; i++) if (!/^[A-Za-z0-9+/=]{1,76}\r?$/.test(body[i])) return false;
  return true;
}
export const CERT_LABELS = ["CERTIFICATE"];
export const KEY_LABELS = ["PRIVATE KEY", "EC PRIVATE KEY"];
export const CSR_LABELS = ["CERTIFICATE REQUEST"];

function decodeObject(payload: ArrayBuffer): Record<string, unknown> {
  if (payload.byteLength > MAX_ANSWER_BYTES) throw new ProvisioningMessageError(`answer of ${payload.byteLength} bytes exceeds ${MAX_ANSWER_BYTES}`);
  let text: string;
  try {
    text = utf8String(payload);
  } catch {
    throw new ProvisioningMessageError("answer is not UTF-8");
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ProvisioningMessageError("answer is not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ProvisioningMessageError("answer is not a JSON object");
  return v as Record<string, unknown>;
}

export interface CreateAnswer {
  certificateId: string;
  certificatePem: string;
  /** Absent for create-from-csr. */
  privateKey?: string;
  certificateOwnershipToken: string;
}

export function parseCreateAccepted(payload: ArrayBuffer, expectKey: boolean): CreateAnswer {
  const o = decodeObject(payload);
  if (typeof o.certificateId !== "string" || !CERT_ID.test(o.certificateId)) throw new ProvisioningMessageError("certificateId: 64 hex digits expected");
  if (!isPem(o.certificatePem, CERT_LABELS)) throw new ProvisioningMessageError(`certificatePem: a PEM certificate of at most ${MAX_PEM_CHARS} chars expected`);
  if (typeof o.certificateOwnershipToken !== "string" || !TOKEN.test(o.certificateOwnershipToken))
    throw new ProvisioningMessageError(`certificateOwnershipToken: 1-${MAX_TOKEN_CHARS} printable chars expected`);
  if (expectKey) {
    if (!isPem(o.privateKey, KEY_LABELS)) throw new ProvisioningMessageError(`privateKey: a PEM private key of at most ${MAX_PEM_CHARS} chars expected`);
  } else if (o.privateKey !== undefined) throw new ProvisioningMessageError("privateKey: unexpected in a create-from-csr answer");
  return {
    certificateId: o.certificateId,
    certificatePem: o.certificatePem,
    ...(expectKey ? { privateKey: o.privateKey as string } : {}),
    certificateOwnershipToken: o.certificateOwnershipToken,
  };
}

export interface ProvisionAnswer {
  thingName: string;
  deviceConfiguration: Record<string, string>;
}

export function parseProvisionAccepted(payload: ArrayBuffer): ProvisionAnswer {
  const o = decodeObject(payload);
  if (typeof o.thingName !== "string" || !THING_NAME.test(o.thingName)) throw new ProvisioningMessageError("thingName: 1-128 of [a-zA-Z0-9:_-] expected");
  const cfg: Record<string, string> = {};
  const dc = o.deviceConfiguration;
  if (dc !== undefined) {
    if (typeof dc !== "object" || dc === null || Array.isArray(dc)) throw new ProvisioningMessageError("deviceConfiguration: an object expected");
    const keys = Object.keys(dc);
    if (keys.length > 32) throw new ProvisioningMessageError("deviceConfiguration: at most 32 entries");
    for (let i = 0; i < keys.length; i++) {
      const v = (dc as Record<string, unknown>)[keys[i]];
      if (keys[i].length > 64 || typeof v !== "string" || v.length > 256) throw new ProvisioningMessageError("deviceConfiguration: string values (<= 256 chars) expected");
      cfg[keys[i]] = v;
    }
  }
  return { thingName: o.thingName, deviceConfiguration: cfg };
}

/** AWS error answer; missing or malformed fields become placeholders (the answer is already a refusal). */
export interface Rejection {
  statusCode: number;
  errorCode: string;
  errorMessage: string;
}

export function parseRejected(payload: ArrayBuffer): Rejection {
  let o: Record<string, unknown> = {};
  try {
    o = decodeObject(payload);
  } catch {
    // keep the placeholders
  }
  const str = (v: unknown, max: number) => (typeof v === "string" ? v.slice(0, max).replace(/[^\x20-\x7e]/g, "?") : "");
  return {
    statusCode: typeof o.statusCode === "number" && o.statusCode >= 0 && o.statusCode < 1000 ? Math.floor(o.statusCode) : 0,
    errorCode: str(o.errorCode, 64) || "Unknown",
    errorMessage: str(o.errorMessage, 256),
  };
}

/** Checks provisioning parameters before they are sent (bounded, string values). */
export function checkParameters(p: Record<string, string>): void {
  const keys = Object.keys(p);
  if (keys.length > 32) throw new ProvisioningMessageError("at most 32 parameters");
  for (let i = 0; i < keys.length; i++)
    if (!PARAM_NAME.test(keys[i]) || typeof p[keys[i]] !== "string" || p[keys[i]].length > 256)
      throw new ProvisioningMessageError(`parameter ${keys[i]}: a string of at most 256 chars`);
}
