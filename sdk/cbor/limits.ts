import { CborError } from "./error";

/**
 * Bounds every decode and encode. The defaults suit AWS IoT MQTT stream
 * messages (small maps with short string keys, one block payload up to 64 KB)
 * on an XS heap; callers with other needs pass their own.
 */
export interface CborLimits {
  /** Most arrays, maps and tags nested inside one another: 0 allows scalars only, 1 a flat array or map. */
  maxDepth: number;
  /** Most data items in one input (every key, value, element and string chunk counts). */
  maxItems: number;
  /** Most bytes of input (decode) or output (encode). */
  maxLength: number;
}

export const DEFAULT_LIMITS: Readonly<CborLimits> = Object.freeze({
  maxDepth: 16,
  maxItems: 4096,
  maxLength: 65536 + 1024,
});

/** Hard ceiling on maxDepth: recursion depth is bounded whatever the caller asks. */
export const MAX_DEPTH_CEILING = 256;

export function readLimit(value: unknown, name: string, fallback: number, ceiling: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > ceiling) {
    throw new CborError(`option ${name} must be an integer from 0 to ${ceiling}`);
  }
  return value;
}
