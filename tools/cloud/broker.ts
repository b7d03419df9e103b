// The embedded broker: aedes with a plain TCP listener (local development: the MQTT
// client id is the thing name) and a mutual-TLS listener (the verified certificate's
// CN is the identity), both on loopback by default. Every PUBLISH and SUBSCRIBE of a
// device is checked against the registry's policy; refusals are logged.
// Nothing open by accident: the plain listener is "open" (client id = identity) only on
// loopback; on a network address it is "off" unless asked for, and then "credentials":
// username = thing name = client id, password = that thing's password (credentials.ts).
import { Aedes, type AuthenticateError, type Client } from "aedes";
import { createHash } from "node:crypto";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { connMeta, handleConnection, type ConnMeta, type V5Hooks } from "./mqtt5.ts";
import { describeIdentity, identityFromName, type Identity, type Registry } from "./registry.ts";
import type { Logger } from "./log.ts";
import { topicMatches } from "./topics.ts";
import { brokerAudit } from "./audit.ts";
import type { ThingCredentials } from "./credentials.ts";

/** The plain (non-TLS) listener: off; open (client id = thing name, loopback only); or
 * credentials (username = thing name = client id, password = the thing's password). */
export type PlainMode = "off" | "open" | "credentials";

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  tlsPort: number;
  tls: { ca: string; cert: string; key: string };
  registry: Registry;
  log: Logger;
  /** Register unknown things on first connect (default true: a local dev cloud). */
  autoRegister: boolean;
  /** Plain listener mode (default "open"). */
  plain?: PlainMode;
  /** Per-thing passwords, required when plain is "credentials". */
  credentials?: ThingCredentials;
}

export interface EmbeddedBroker {
  aedes: Aedes;
  /** mqtt: undefined when the plain listener is off. */
  ports: { mqtt?: number; mqtts: number };
  plain: PlainMode;
  close(): Promise<void>;
}

const identities = new WeakMap<Client, Identity>();

/** AWS IoT's quota: publish requests per second per connection. A client at the quota is served; one at more
 * than twice it, averaged over RATE_WINDOW_MS (so a wake's pipelined burst passes), is closed (MQTT 5:
 * DISCONNECT 0x96, Message rate too high): an unthrottled flooder (thousands a second) would otherwise saturate
 * the cloud and keep its victims' wakes waiting. */
export const PUBLISH_RATE_LIMIT = 100;
const RATE_WINDOW_MS = 2000;
const RATE_TOLERANCE = 2;
const rates = new WeakMap<object, { start: number; count: number }>();
/** Counts one publish of the connection; false once it is over the rate in the current window. */
function underRate(connection: object): boolean {
  const now = Date.now();
  let r = rates.get(connection);
  if (!r || now - r.start >= RATE_WINDOW_MS) rates.set(connection, (r = { start: now, count: 0 }));
  return ++r.count <= (RATE_TOLERANCE * PUBLISH_RATE_LIMIT * RATE_WINDOW_MS) / 1000;
}
/** Provisioned certificate a connection authenticated with (by certificate id). */
type BrokerMeta = ConnMeta & { certificateId?: string };
const certificates = new WeakMap<Client, string>();

/** A PUBLISH by a device that a cloud service answers to that connection alone. */
export interface DirectRequest {
  topic: string;
  payload: Buffer;
  clientId: string;
  identity: Identity;
  /** Delivers a PUBLISH (QoS 1) to the requesting connection only, never to other
   * subscribers of the topic. False if that connection has gone. */
  reply(topic: string, payload: string | Buffer): Promise<boolean>;
}
/** Request/response with one connection, for answers that must not be broadcast
 * (fleet provisioning: claim devices share response topics, and the answer to
 * `$aws/certificates/create/json` carries a private key). Embedded broker only. */
export interface DirectChannel {
  /** Calls handler for each authorised device PUBLISH on a topic matching filter. Returns a remover. */
  onRequest(filter: string, handler: (req: DirectRequest) => void): () => void;
  /** Closes the connections that authenticated with this provisioned certificate (it was
   * just deactivated); returns how many. New connections are refused by its status. */
  dropCertificate(certificateId: string): number;
}
const channels = new WeakMap<Registry, DirectChannel>();
/** The direct channel of the embedded broker serving this registry (undefined with an external broker). */
export function directChannel(registry: Registry): DirectChannel | undefined {
  return channels.get(registry);
}

function authError(msg: string, code: number): AuthenticateError {
  return Object.assign(new Error(msg), { returnCode: code }) as AuthenticateError;
}

export async function startEmbeddedBroker(o: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { registry, log } = o;
  const audit = brokerAudit(registry);
  const thingOf = (id: Identity | undefined) => (id?.kind === "thing" ? id.thingName : undefined);

  const resolve = (meta: ConnMeta | undefined, clientId: string): Identity | undefined => {
    const name = meta?.certCn ?? clientId;
    const id = identityFromName(name);
    if (id?.kind === "claim" && meta?.certCn === undefined) return undefined; // a claim needs its certificate
    return id;
  };

  const plain: PlainMode = o.plain ?? "open";
  if (plain === "credentials" && !o.credentials) throw new Error("plain listener with credentials needs the credentials table");
  const credentials = o.credentials!;
  const authWaiters = new WeakMap<Client, (() => void)[]>();
  const connacked = new WeakSet<Client>();
  const aedes = await Aedes.createBroker({
    id: "xsiot-cloud",
    authenticate(client, user, pass, done) {
      const meta = connMeta.get(client.conn);
      const id = resolve(meta, client.id);
      if (!id) {
        log.warn(`refused connection from ${meta?.remote ?? "?"}: client id ${JSON.stringify(client.id)} is not a valid thing name`);
        audit.record({ kind: "connect-refused", clientId: client.id, remote: meta?.remote, reason: "identifier rejected" });
        return done(authError("identifier rejected", 2), false);
      }
      if (plain === "credentials" && meta?.certCn === undefined) {
        // Off loopback a client id is not a credential: the thing's own password is.
        const ok = id.kind === "thing" && user === id.thingName && credentials.verify(id.thingName, pass);
        if (!ok) {
          log.warn(`refused plain connection from ${meta?.remote ?? "?"} as ${JSON.stringify(client.id)}: ${user === undefined ? "no credentials" : "bad username or password"}`);
          audit.record({ kind: "connect-refused", clientId: client.id, remote: meta?.remote, reason: "bad username or password" });
          return done(authError("bad username or password", 4), false);
        }
      }
      if (id.kind === "thing" && !registry.get(id.thingName)) {
        if (!o.autoRegister) {
          log.warn(`refused ${describeIdentity(id)}: not registered`);
          audit.record({ kind: "connect-refused", clientId: client.id, thing: thingOf(id), remote: meta?.remote, reason: "not registered" });
          return done(authError("not authorized", 5), false);
        }
        registry.create(id.thingName);
        log.info(`registered ${id.thingName} on first connect`);
      }
      identities.set(client, id);
      const certId = (meta as BrokerMeta | undefined)?.certificateId;
      if (certId) certificates.set(client, certId);
      audit.record({ kind: "connect", clientId: client.id, thing: thingOf(id), remote: meta?.remote });
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      if (!underRate(connMeta.get(client.conn) ?? client)) {
        log.warn(`closed ${client.id}: more than ${RATE_TOLERANCE * PUBLISH_RATE_LIMIT} publishes a second`);
        audit.record({ kind: "throttled", clientId: client.id, thing: thingOf(identities.get(client)) });
        client.close();
        return done(new Error("message rate too high"));
      }
      if (!connacked.has(client) && !client.closed) {
        // A PUBLISH pipelined behind CONNECT (MQTT allows it; the SDK does it to save a
        // round trip) can reach this hook before aedes has authenticated the client and
        // sent CONNACK. Decide once CONNACK is out, so the PUBACK can never precede it
        // (MQTT-3.2.0-1: the server's first packet is CONNACK).
        const waiters = authWaiters.get(client) ?? [];
        authWaiters.set(client, waiters);
        const timer = setTimeout(() => decide(), 5000);
        const decide = () => {
          clearTimeout(timer);
          const id = identities.get(client);
          if (id && registry.canPublish(id, packet.topic)) return done(null);
          log.warn(`refused publish by ${id ? describeIdentity(id) : client.id} on ${packet.topic}`);
          audit.record({ kind: "publish-refused", clientId: client.id, thing: thingOf(id), topic: packet.topic });
          done(new Error(`not authorized to publish on ${packet.topic}`));
        };
        waiters.push(decide);
        return;
      }
      const id = identities.get(client);
      if (id && registry.canPublish(id, packet.topic)) return done(null);
      log.warn(`refused publish by ${id ? describeIdentity(id) : client.id} on ${packet.topic}`);
      audit.record({ kind: "publish-refused", clientId: client.id, thing: thingOf(id), topic: packet.topic });
      done(new Error(`not authorized to publish on ${packet.topic}`));
    },
    authorizeSubscribe(client, sub, done) {
      const id = identities.get(client);
      if (id && registry.canSubscribe(id, sub.topic)) return done(null, sub);
      log.warn(`refused subscription by ${id ? describeIdentity(id) : client.id} to ${sub.topic}`);
      audit.record({ kind: "subscribe-refused", clientId: client.id, thing: thingOf(id), topic: sub.topic });
      done(null, null);
    },
  });
  const direct: { filter: string; handler: (req: DirectRequest) => void }[] = [];
  channels.set(registry, {
    onRequest(filter, handler) {
      const entry = { filter, handler };
      direct.push(entry);
      return () => {
        const i = direct.indexOf(entry);
        if (i >= 0) direct.splice(i, 1);
      };
    },
    dropCertificate(certificateId) {
      let n = 0;
      for (const client of Object.values((aedes as unknown as { clients: Record<string, Client> }).clients))
        if (certificates.get(client) === certificateId) {
          n++;
          client.close();
        }
      if (n) log.info(`closed ${n} connection(s) of deactivated certificate ${certificateId.slice(0, 12)}…`);
      return n;
    },
  });
  // Whatever deactivates a provisioned certificate (re-provisioning, thing deleted), its live
  // connections close: the status check at connect time alone would let them run on.
  registry.onCertificateRevoked((id) => channels.get(registry)!.dropCertificate(id));
  aedes.on("publish", (packet, client) => {
    if (client) audit.record({ kind: "publish", clientId: client.id, thing: thingOf(identities.get(client)), topic: packet.topic, bytes: packet.payload.length });
    if (!client || !direct.length) return;
    const identity = identities.get(client);
    if (!identity) return;
    for (const d of direct) {
      if (!topicMatches(d.filter, packet.topic)) continue;
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      const reply = (topic: string, body: string | Buffer) =>
        new Promise<boolean>((res) => {
          if (client.closed || (aedes as unknown as { clients: Record<string, Client> }).clients[client.id] !== client) return res(false);
          client.publish({ cmd: "publish", topic, payload: Buffer.from(body), qos: 1, retain: false, dup: false }, () => res(true));
        });
      try {
        d.handler({ topic: packet.topic, payload, clientId: client.id, identity, reply });
      } catch (e) {
        log.error(`direct handler for ${packet.topic} failed: ${(e as Error).stack ?? e}`);
      }
    }
  });
  aedes.on("clientDisconnect", (client) => audit.record({ kind: "disconnect", clientId: client.id, thing: thingOf(identities.get(client)) }));
  aedes.on("subscribe", (subs, client) => {
    for (const sub of subs) audit.record({ kind: "subscribe", clientId: client.id, thing: thingOf(identities.get(client)), topic: sub.topic });
  });
  aedes.on("connackSent", (_packet, client) => {
    connacked.add(client);
    for (const decide of authWaiters.get(client) ?? []) decide();
    authWaiters.delete(client);
  });
  aedes.on("clientError", (client, err) => log.warn(`client ${client?.id ?? "?"}: ${err.message}`));
  aedes.on("connectionError", (_client, err) => log.warn(`connection error: ${err.message}`));

  const hooks: V5Hooks = {
    canPublish(meta, clientId, topic) {
      const id = resolve(meta, clientId);
      return !!id && registry.canPublish(id, topic);
    },
    admitPublish(meta, clientId) {
      if (underRate(meta)) return true;
      log.warn(`closed ${clientId}: more than ${RATE_TOLERANCE * PUBLISH_RATE_LIMIT} publishes a second (v5: reason 0x96)`);
      const id = resolve(meta, clientId);
      audit.record({ kind: "throttled", clientId, thing: thingOf(id) });
      return false;
    },
    onRefusedPublish(meta, clientId, topic) {
      const id = resolve(meta, clientId);
      log.warn(`refused publish by ${id ? describeIdentity(id) : clientId} on ${topic} (v5: reason 0x87)`);
      audit.record({ kind: "publish-refused", clientId, thing: thingOf(id), topic });
    },
    onError(meta, err) {
      log.warn(`connection from ${meta.remote}: ${err.message}`);
    },
  };

  // noDelay: a reply the broker writes in pieces (PUBACK, then the answer on a response topic) leaves at once;
  // with Nagle the second piece waited for the client's delayed ACK, ~40 ms on Linux loopback, every request.
  const plainServer = createServer({ noDelay: true }, (socket: Socket) => {
    handleConnection(socket, aedes, { remote: `${socket.remoteAddress}:${socket.remotePort}` }, hooks);
  });
  const secure = createTlsServer(
    { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2", noDelay: true },
    (socket: TLSSocket) => {
      const peer = socket.getPeerCertificate();
      let cn = peer?.subject?.CN;
      const remote = `${socket.remoteAddress}:${socket.remotePort}`;
      if (!socket.authorized || typeof cn !== "string") {
        log.warn(`TLS client ${remote} without a valid certificate: ${socket.authorizationError ?? "no CN"}`);
        return socket.destroy();
      }
      // A certificate from fleet provisioning is known by its id: its thing is the identity.
      let certificateId: string | undefined;
      if (peer.raw) {
        const rec = registry.certificate(createHash("sha256").update(peer.raw).digest("hex"));
        if (rec) {
          if (rec.status !== "ACTIVE" || !rec.thingName) {
            log.warn(`TLS client ${remote}: certificate ${rec.certificateId.slice(0, 12)}… is ${rec.status}${rec.thingName ? "" : " and attached to no thing"}`);
            return socket.destroy();
          }
          cn = rec.thingName;
          certificateId = rec.certificateId;
        }
      }
      const meta: BrokerMeta = { remote, certCn: cn, ...(certificateId ? { certificateId } : {}) };
      handleConnection(socket, aedes, meta, hooks);
    },
  );
  secure.on("tlsClientError", (err) => log.warn(`TLS handshake failed: ${err.message}`));

  const listen = (srv: Server, port: number) =>
    new Promise<number>((res, rej) => {
      srv.once("error", rej);
      srv.listen(port, o.host, () => res((srv.address() as AddressInfo).port));
    });
  const mqttPort = plain === "off" ? undefined : await listen(plainServer, o.port);
  if (plain === "off") log.info(`plain MQTT listener off on ${o.host}: devices use mTLS (--plain-mqtt opens it with per-thing passwords)`);
  else if (plain === "credentials") log.info(`plain MQTT listener on ${o.host}:${mqttPort} needs username = thing name and the thing's password`);
  const mqttsPort = await listen(secure, o.tlsPort);

  const sockets = new Set<Socket>();
  const servers = plain === "off" ? [secure] : [plainServer, secure];
  for (const srv of servers)
    srv.on("connection", (s: Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
  secure.on("secureConnection", (s: TLSSocket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  return {
    aedes,
    ports: { mqtt: mqttPort, mqtts: mqttsPort },
    plain,
    async close() {
      const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      for (const s of sockets) s.destroy();
      await closed;
      await new Promise<void>((r) => aedes.close(() => r()));
    },
  };
}
