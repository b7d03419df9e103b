// MQTT 5 in front of aedes. aedes speaks MQTT 3.1/3.1.1 only, so a v5 client's
// packets are translated to 3.1.1 for the broker and the broker's answers back to
// v5, adding what v5 has and 3.1.1 lacks: reason codes (SUBACK 0x87 "Not
// authorized" for a refused filter, PUBACK/PUBREC 0x87 for a refused publish,
// UNSUBACK codes, CONNACK reason codes) and inbound topic aliases. Properties are
// dropped. 3.1.x clients are handed to aedes untouched.
import type { Aedes } from "aedes";
import mqttPacket from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { Duplex } from "node:stream";

export interface ConnMeta {
  /** CN of the verified client certificate (mTLS listener), if any. */
  certCn?: string;
  remote: string;
}

export interface V5Hooks {
  /** May the connection with this metadata and client id publish on `topic`? */
  canPublish(meta: ConnMeta, clientId: string, topic: string): boolean;
  onRefusedPublish(meta: ConnMeta, clientId: string, topic: string): void;
  /** Counts a publish that never reaches the broker (refused here); false: the connection is over its rate. */
  admitPublish(meta: ConnMeta, clientId: string): boolean;
  onError(meta: ConnMeta, err: Error): void;
}

/** Connection metadata by the stream aedes handles (socket, or the v5 bridge). */
export const connMeta = new WeakMap<object, ConnMeta>();

const CONNACK_V5: Record<number, number> = { 0: 0x00, 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };
const MAX_CONNECT = 64 * 1024;

/** Hands a fresh socket to aedes, bridging it if the client speaks MQTT 5. */
export function handleConnection(socket: Duplex, broker: Aedes, meta: ConnMeta, hooks: V5Hooks): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const sniff = mqttPacket.parser();
  const fail = (err: Error) => {
    hooks.onError(meta, err);
    socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_CONNECT) return fail(new Error("CONNECT too large"));
    sniff.parse(chunk);
  };
  sniff.on("error", fail);
  sniff.once("packet", (first: Packet) => {
    socket.removeListener("data", onData);
    socket.pause();
    const head = Buffer.concat(chunks);
    if (first.cmd !== "connect") return fail(new Error(`first packet is ${first.cmd}, not connect`));
    if (first.protocolVersion !== 5) {
      connMeta.set(socket, meta);
      socket.unshift(head);
      broker.handle(socket);
      return;
    }
    bridgeV5(socket, broker, meta, hooks, head);
  });
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
}

function bridgeV5(socket: Duplex, broker: Aedes, meta: ConnMeta, hooks: V5Hooks, head: Buffer): void {
  const aliases = new Map<number, string>();
  const unsubCounts = new Map<number, number>();
  let clientId = "";
  // Packets pipelined after CONNECT wait for the broker's CONNACK: aedes only queues
  // them when they arrive in the same read as CONNECT, and this bridge hands it one
  // packet per read, so a PUBLISH could otherwise be judged before the client is known.
  let connacked = false;
  const early: Packet[] = [];
  const toClient = (p: Packet) => {
    if (!socket.destroyed) socket.write(mqttPacket.generate(p, { protocolVersion: 5 }));
  };
  const brokerSide = mqttPacket.parser({ protocolVersion: 4 });
  const inner = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      brokerSide.parse(chunk);
      cb();
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  const toBroker = (p: Packet) => inner.push(mqttPacket.generate(p, { protocolVersion: 4 }));

  brokerSide.on("packet", (p: Packet) => {
    switch (p.cmd) {
      case "connack": {
        toClient({ cmd: "connack", sessionPresent: p.sessionPresent, reasonCode: CONNACK_V5[p.returnCode ?? 0] ?? 0x80 });
        if (p.returnCode) return;
        connacked = true;
        for (const q of early.splice(0)) fromClient(q);
        return;
      }
      case "suback":
        return toClient({ cmd: "suback", messageId: p.messageId, granted: p.granted.map((g) => (g === 128 ? 0x87 : g)) as number[] });
      case "unsuback": {
        const n = unsubCounts.get(p.messageId!) ?? 1;
        unsubCounts.delete(p.messageId!);
        return toClient({ cmd: "unsuback", messageId: p.messageId, reasonCodes: new Array(n).fill(0) } as unknown as Packet);
      }
      default:
        return toClient(p);
    }
  });
  brokerSide.on("error", (e: Error) => {
    hooks.onError(meta, e);
    socket.destroy();
  });

  const clientSide = mqttPacket.parser({ protocolVersion: 5 });
  clientSide.on("error", (e: Error) => {
    hooks.onError(meta, e);
    if (!socket.destroyed) toClient({ cmd: "disconnect", reasonCode: 0x81 });
    socket.destroy();
  });
  const MAX_EARLY = 64;
  const fromClient = (p: Packet) => {
    if (!connacked && p.cmd !== "connect") {
      if (early.length >= MAX_EARLY) {
        hooks.onError(meta, new Error(`more than ${MAX_EARLY} packets before CONNACK`));
        return socket.destroy();
      }
      early.push(p);
      return;
    }
    switch (p.cmd) {
      case "connect": {
        clientId = p.clientId;
        const will = p.will ? { ...p.will, properties: undefined } : undefined;
        return toBroker({ ...p, protocolVersion: 4, protocolId: "MQTT", properties: undefined, will });
      }
      case "publish": {
        let topic = p.topic;
        const alias = p.properties?.topicAlias;
        if (alias !== undefined) {
          if (topic) aliases.set(alias, topic);
          else topic = aliases.get(alias) ?? "";
          if (!topic) {
            toClient({ cmd: "disconnect", reasonCode: 0x82 });
            return socket.destroy();
          }
        }
        if (!hooks.canPublish(meta, clientId, topic)) {
          hooks.onRefusedPublish(meta, clientId, topic);
          if (!hooks.admitPublish(meta, clientId)) {
            toClient({ cmd: "disconnect", reasonCode: 0x96 }); // Message rate too high
            return socket.destroy();
          }
          if (p.qos === 1) toClient({ cmd: "puback", messageId: p.messageId, reasonCode: 0x87 });
          else if (p.qos === 2) toClient({ cmd: "pubrec", messageId: p.messageId, reasonCode: 0x87 });
          return;
        }
        return toBroker({ cmd: "publish", topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup, messageId: p.messageId } as Packet);
      }
      case "subscribe":
        return toBroker({ cmd: "subscribe", messageId: p.messageId, subscriptions: p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })) });
      case "unsubscribe":
        unsubCounts.set(p.messageId!, p.unsubscriptions.length);
        return toBroker({ cmd: "unsubscribe", messageId: p.messageId, unsubscriptions: p.unsubscriptions });
      case "puback":
      case "pubrec":
      case "pubrel":
      case "pubcomp":
        return toBroker({ cmd: p.cmd, messageId: p.messageId } as Packet);
      case "pingreq":
        return toBroker({ cmd: "pingreq" });
      case "disconnect":
        toBroker({ cmd: "disconnect" });
        return;
      default:
        toClient({ cmd: "disconnect", reasonCode: 0x82 });
        socket.destroy();
    }
  };
  clientSide.on("packet", fromClient);

  socket.on("data", (d: Buffer) => clientSide.parse(d));
  socket.on("close", () => inner.destroy());
  socket.on("end", () => inner.push(null));
  connMeta.set(inner, meta);
  broker.handle(inner);
  clientSide.parse(head);
  socket.resume();
}
