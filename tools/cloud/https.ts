// The HTTPS data plane, as AWS IoT offers it on port 8443: a device publishes with
// POST /topics/<topic>?qos=0|1 over mutual TLS; its certificate names it (the CN,
// or the thing a provisioned certificate is attached to), and the same per-thing
// policy as MQTT applies. 200 {"message":"OK"} on success, 403 when the policy
// refuses the topic. Publish only: HTTPS devices cannot subscribe. It is here so
// the energy of an HTTPS uplink can be measured against an MQTT one.
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { brokerAudit } from "./audit.ts";
import type { Bus } from "./bus.ts";
import type { Logger } from "./log.ts";
import { identityFromName, type Registry } from "./registry.ts";

const MAX_BODY = 128 * 1024;

export async function startHttpsDataPlane(o: {
  host: string;
  port: number;
  tls: { ca: string; cert: string; key: string };
  registry: Registry;
  bus: Bus;
  log: Logger;
  /** Register a thing on its first request, as the embedded broker does on its first connection. */
  autoRegister: boolean;
}): Promise<{ server: Server; port: number }> {
  const audit = brokerAudit(o.registry);
  const server = createServer({ ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" }, (req, res) => {
    const send = (status: number, message: string) => {
      res.writeHead(status, { "content-type": "application/json", connection: "close" });
      res.end(JSON.stringify({ message, traceId: createHash("sha1").update(String(Math.random())).digest("hex").slice(0, 16) }));
    };
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    let name = peer?.subject?.CN;
    if (peer?.raw) {
      const rec = o.registry.certificate(createHash("sha256").update(peer.raw).digest("hex"));
      if (rec) name = rec.status === "ACTIVE" ? rec.thingName : undefined;
    }
    const id = typeof name === "string" ? identityFromName(name) : undefined;
    if (!id || id.kind !== "thing") return send(403, "Forbidden: unknown identity");
    if (!o.registry.get(id.thingName)) {
      if (!o.autoRegister) return send(403, `Forbidden: thing ${id.thingName} is not registered`);
      o.registry.create(id.thingName);
      o.log.info(`registered ${id.thingName} on its first HTTPS request`);
    }
    const url = new URL(req.url ?? "/", "https://cloud");
    const m = /^\/topics\/(.+)$/.exec(url.pathname);
    if (req.method !== "POST" || !m) return send(404, "Not Found: POST /topics/<topic>?qos=0|1");
    const topic = decodeURIComponent(m[1]);
    const qos = url.searchParams.get("qos") ?? "0";
    if (qos !== "0" && qos !== "1") return send(400, "qos must be 0 or 1");
    if (!o.registry.canPublish(id, topic)) {
      audit.record({ kind: "publish-refused", clientId: `https:${id.thingName}`, thing: id.thingName, topic });
      return send(403, `Forbidden: not authorized to publish on ${topic}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        send(413, `payload exceeds ${MAX_BODY} bytes`);
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => {
      if (size > MAX_BODY) return;
      const payload = Buffer.concat(chunks);
      audit.record({ kind: "publish", clientId: `https:${id.thingName}`, thing: id.thingName, topic, bytes: payload.length });
      o.bus.publish(topic, payload, { qos: qos === "1" ? 1 : 0 }).then(
        () => send(200, "OK"),
        (e: Error) => {
          o.log.warn(`https publish by ${id.thingName} on ${topic} failed: ${e.message}`);
          send(503, "Service Unavailable");
        },
      );
    });
  });
  server.on("tlsClientError", (err) => o.log.warn(`HTTPS TLS handshake failed: ${err.message}`));
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(o.port, o.host, () => res());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
