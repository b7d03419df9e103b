// Operator HTTP JSON API of the cloud process. Things routes live here; each
// service answers its own routes through CloudService.http.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { RegistryError, type Registry } from "./registry.ts";
import { ApiError, type CloudService, type HttpRequest, type HttpResult } from "./service.ts";
import type { Logger } from "./log.ts";

const MAX_BODY = 256 * 1024;

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

export async function startHttp(o: { host: string; port: number; registry: Registry; services: CloudService[]; log: Logger; health: () => object }): Promise<{ server: Server; port: number }> {
  const server = createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    try {
      const url = new URL(req.url ?? "/", "http://cloud");
      const text = await readBody(req);
      let body: unknown;
      if (text.trim()) {
        try {
          body = JSON.parse(text);
        } catch {
          throw new ApiError(400, "InvalidJson", "request body is not valid JSON");
        }
      }
      const path = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
      const r: HttpRequest = { method: req.method ?? "GET", path, query: url.searchParams, body };
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
