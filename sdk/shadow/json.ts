// Bounded JSON for documents from the network (shadow, jobs): a size limit
// checked before decoding and a nesting limit checked by a byte scan before
// JSON.parse, so hostile input can neither exhaust the heap nor the stack.

import { utf8Decode, utf8Encode } from "../text/utf8";

export type JsonObject = Record<string, unknown>;

export const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** Why a payload was refused (the caller logs it and ignores the message). */
export class JsonRefused extends Error {
  constructor(message: string) {
    super(message);
  }
}
// `name` on the prototype: `this.name = ...` throws where Error.prototype is frozen (Moddable).
Object.defineProperty(JsonRefused.prototype, "name", { value: "JsonRefused", configurable: true, writable: true });


/** Parses a JSON payload of at most maxBytes bytes and maxDepth nesting; throws JsonRefused. */
export function parseBounded(payload: ArrayBuffer | Uint8Array | string, maxBytes: number, maxDepth: number): unknown {
  const bytes = typeof payload === "string" ? encodeText(payload) : payload instanceof Uint8Array ? payload : new Uint8Array(payload);
  if (bytes.length > maxBytes) throw new JsonRefused(`document of ${bytes.length} bytes exceeds ${maxBytes}`);
  if (bytes.length === 0) throw new JsonRefused("empty document");
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw new JsonRefused(`document nests deeper than ${maxDepth}`);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  let text: string;
  try {
    text = utf8Decode(bytes, 0, bytes.length);
  } catch {
    throw new JsonRefused("document is not UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new JsonRefused(`invalid JSON (${(e as Error).message})`);
  }
}

/** Parses and requires a top-level object. */
export function parseObject(payload: ArrayBuffer | Uint8Array | string, maxBytes: number, maxDepth: number): JsonObject {
  const v = parseBounded(payload, maxBytes, maxDepth);
  if (!isObject(v)) throw new JsonRefused("document is not a JSON object");
  return v;
}

function encodeText(s: string): Uint8Array {
  try {
    return utf8Encode(s);
  } catch {
    throw new JsonRefused("document is not well-formed text");
  }
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as JsonObject;
  const bo = b as JsonObject;
  const ka = Object.keys(ao);
  if (ka.length !== Object.keys(bo).length) return false;
  for (const k of ka) if (!(k in bo) || !deepEqual(ao[k], bo[k])) return false;
  return true;
}

/** Desired keys whose value differs from reported, recursing into objects (as AWS computes a delta). */
export function computeDelta(desired: unknown, reported: unknown): JsonObject | undefined {
  if (!isObject(desired)) return undefined;
  const r = isObject(reported) ? reported : undefined;
  let out: JsonObject | undefined;
  for (const k of Object.keys(desired)) {
    const d = desired[k];
    const v = r ? r[k] : undefined;
    let diff: unknown;
    if (isObject(d) && isObject(v)) diff = computeDelta(d, v);
    else if (!deepEqual(d, v)) diff = d;
    if (diff !== undefined) (out || (out = {}))[k] = diff;
  }
  return out;
}
