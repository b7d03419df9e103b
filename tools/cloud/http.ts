// Operator HTTP JSON API of the cloud process, and the web console. Things routes
// live here; each service answers its own routes through CloudService.http, and a
// service with raw() (the console) may answer with a stream or a page.
//
// Safe by default: on a loopback address the API is open to this machine only
// (Host must be a loopback name, against DNS rebinding); on any other address a
// token is required, as `Authorization: Bearer <token>` or the cookie the /login
// form sets. A browser's writes need a JSON body type and, if it sends an
// Origin, the same origin: a web page elsewhere cannot post to the cloud.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP, type AddressInfo } from "node:net";
import { RegistryError, type Registry } from "./registry.ts";
import { ApiError, type CloudService, type HttpRequest, type HttpResult } from "./service.ts";
import type { Logger } from "./log.ts";

const MAX_BODY = 256 * 1024;
const COOKIE = "xsiot_token";

/** 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return true;
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost") || h === "::1") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  return h === "::ffff:127.0.0.1";
}

/** A fresh API token: 32 random bytes, base64url. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Constant-time token check (hashes first so lengths do not leak). */
export function tokenMatches(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b);
}

/** The token the HTTP API requires on `host`: the given one, XSIOT_TOKEN, or a new one off loopback. */
export function chooseToken(host: string | undefined, given?: string): string | undefined {
  if (given) return given;
  if (process.env.XSIOT_TOKEN) return process.env.XSIOT_TOKEN;
  return isLoopbackHost(host) ? undefined : newToken();
}

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === COOKIE) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  return m?.[1];
}

const LOGIN_PAGE = (error: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>xsiot console: sign in</title><style>body{font:16px system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#1d2430}
input{font:inherit;width:100%;box-sizing:border-box;padding:.5rem;margin:.5rem 0}button{font:inherit;padding:.5rem 1rem}.err{color:#b00020}</style></head>
<body><h1>xsiot console</h1><p>This cloud listens on a network address, so it asks for the token it printed when it started.</p>
${error ? `<p class="err" role="alert">${error}</p>` : ""}<form method="post" action="/login"><label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus><button type="submit">Sign in</button></form></body></html>`;

/** Raw routes a service may answer (event streams, pages). */
interface RawService {
  raw(req: IncomingMessage, res: ServerResponse, path: string[]): Promise<boolean> | boolean;
}
const hasRaw = (s: unknown): s is RawService => typeof (s as RawService).raw === "function";

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, "PayloadTooLarge", `body exceeds ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString()));
    req.on("error", reject);
  });
}

function thingsRoutes(registry: Registry, req: HttpRequest): HttpResult | undefined {
  const [a, name, ...more] = req.path;
  if (a !== "things" || more.length) return undefined;
  if (!name) {
    if (req.method === "GET") return { status: 200, body: { things: registry.list() } };
    if (req.method === "POST") {
      const b = req.body as { thingName?: unknown; attributes?: Record<string, string>; policy?: string[] } | undefined;
      if (!b || typeof b.thingName !== "string") throw new ApiError(400, "InvalidRequest", "thingName (string) is required");
      return { status: 201, body: registry.create(b.thingName, { attributes: b.attributes, policy: b.policy }) };
    }
    return undefined;
  }
  if (req.method === "GET") {
    const t = registry.get(name);
    if (!t) throw new ApiError(404, "ResourceNotFound", `thing ${name} not found`);
    return { status: 200, body: t };
  }
  if (req.method === "DELETE") {
    if (!registry.delete(name)) throw new ApiError(404, "ResourceNotFound", `thing ${name} not found`);
    return { status: 200, body: { thingName: name, deleted: true } };
  }
  return undefined;
}

export async function startHttp(o: { host: string; port: number; registry: Registry; services: CloudService[]; log: Logger; health: () => object; token?: string }): Promise<{ server: Server; port: number }> {
  const loopback = isLoopbackHost(o.host);
  const token = o.token;
  const server = createServer(async (req, res) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (res.headersSent) return res.end();
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
      res.end(JSON.stringify(body));
    };
    try {
      const url = new URL(req.url ?? "/", "http://cloud");
      const method = req.method ?? "GET";
      let path: string[];
      try {
        path = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
      } catch {
        throw new ApiError(400, "InvalidRequest", "malformed percent-encoding in the path");
      }
      const hostName = (req.headers.host ?? "").replace(/:\d+$/, "");
      if (loopback && !isLoopbackHost(hostName)) throw new ApiError(403, "Forbidden", `Host ${hostName || "(none)"} is not this machine: the cloud listens on loopback only`);
      const isWrite = method !== "GET" && method !== "HEAD";
      const origin = req.headers.origin;
      if (isWrite && origin && origin !== "null") {
        let oh = "";
        try {
          oh = new URL(origin).host;
        } catch {}
        if (oh !== req.headers.host) throw new ApiError(403, "Forbidden", `cross-origin write from ${origin} refused`);
      } else if (isWrite && origin === "null") throw new ApiError(403, "Forbidden", "cross-origin write refused");
      if (path.length === 1 && path[0] === "login") {
        if (method === "GET") {
          res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
          return res.end(LOGIN_PAGE(""));
        }
        if (method === "POST") {
          const form = new URLSearchParams(await readBody(req));
          const given = form.get("token") ?? "";
          if (token && !tokenMatches(given, token)) {
            res.writeHead(401, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
            return res.end(LOGIN_PAGE("That is not the token this cloud printed at start."));
          }
          res.writeHead(303, {
            location: "/",
            "set-cookie": `${COOKIE}=${encodeURIComponent(given)}; HttpOnly; SameSite=Strict; Path=/`,
          });
          return res.end();
        }
      }
      if (token && !tokenMatches(bearer(req) ?? cookieToken(req), token)) {
        if (method === "GET" && path.length === 0) {
          res.writeHead(303, { location: "/login" });
          return res.end();
        }
        return send(401, { code: "Unauthorized", message: "this cloud needs its token: Authorization: Bearer <token> (printed at start), or sign in at /login" }, { "www-authenticate": "Bearer" });
      }
      // A browser's write must be JSON (a cross-site <form> cannot send that); scripts may omit the type.
      const fromBrowser = !!origin || !!req.headers["sec-fetch-site"] || !!req.headers.cookie;
      if (isWrite && fromBrowser && !/^application\/json\b/i.test(req.headers["content-type"] ?? "") && Number(req.headers["content-length"] ?? 0) > 0)
        throw new ApiError(415, "UnsupportedMediaType", "write requests take a JSON body (content-type: application/json)");
      for (const s of o.services) if (hasRaw(s) && (await s.raw(req, res, path))) return;
      const text = await readBody(req);
      let body: unknown;
      if (text.trim()) {
        try {
          body = JSON.parse(text);
        } catch {
          throw new ApiError(400, "InvalidJson", "request body is not valid JSON");
        }
      }
      const r: HttpRequest = { method, path, query: url.searchParams, body };
      if (path.length === 1 && path[0] === "health") return send(200, o.health());
      for (const s of o.services) {
        const out = await s.http?.(r);
        if (out) return send(out.status, out.body);
      }
      const out = thingsRoutes(o.registry, r);
      if (out) return send(out.status, out.body);
      send(404, { code: "NotFound", message: `no route ${r.method} ${url.pathname}` });
    } catch (e) {
      if (e instanceof ApiError) return send(e.status, { code: e.code, message: e.message });
      if (e instanceof RegistryError) return send(e.status, { code: "InvalidRequest", message: e.message });
      o.log.error(`http ${req.method} ${req.url}: ${(e as Error).stack}`);
      send(500, { code: "InternalError", message: "internal error" });
    }
  });
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(o.port, o.host, () => res());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
