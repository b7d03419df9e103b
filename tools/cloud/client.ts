// Operator client of a running cloud's HTTP API, for the CLI and scripts.
import { DEFAULT_CLOUD_DIR, readCloudState } from "./index.ts";

export class CloudApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Tokens of clouds found through their state file (a cloud off loopback requires one). */
const tokens = new Map<string, string>();

/** Address of the cloud: `--cloud URL` if given, else the state file in `dir`. */
export function resolveCloudUrl(opts: { cloud?: string; dir?: string }): string {
  if (opts.cloud) {
    let u: URL;
    try {
      u = new URL(opts.cloud);
    } catch {
      throw new Error(`--cloud: not a URL: ${opts.cloud}`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("--cloud must be an http:// URL (the cloud's HTTP API)");
    return u.href.replace(/\/$/, "");
  }
  const state = readCloudState(opts.dir ?? DEFAULT_CLOUD_DIR);
  if (state.token) tokens.set(state.httpUrl, state.token);
  return state.httpUrl;
}

export async function cloudApi<T = unknown>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const token = process.env.XSIOT_TOKEN || tokens.get(base);
  let res: Response;
  try {
    res = await fetch(base + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new Error(`cannot reach the cloud at ${base}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    throw new Error(`cloud answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const e = (json ?? {}) as { code?: string | number; message?: string };
    throw new CloudApiError(res.status, String(e.code ?? res.status), e.message ?? `HTTP ${res.status}`);
  }
  return json as T;
}

/** Parses a JSON command-line argument with a clear error. */
export function parseJsonArg(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${name} is not valid JSON: ${(e as Error).message}`);
  }
}
