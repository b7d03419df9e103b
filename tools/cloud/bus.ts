// The bus: how cloud services talk MQTT as the cloud's own identity, whatever the
// broker. `EmbeddedBus` rides the in-process aedes broker; `MqttBus` is an MQTT.js
// client of an external broker (Mosquitto, EMQX, AWS IoT...). Services see only `Bus`.
import type { Aedes } from "aedes";
import mqtt from "mqtt";
import { randomUUID } from "node:crypto";
import { topicMatches } from "./topics.ts";
import type { Logger } from "./log.ts";

export interface BusMessage {
  topic: string;
  payload: Buffer;
}
export type BusHandler = (msg: BusMessage) => void | Promise<void>;
export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
  /** MQTT 5 Message Expiry Interval, for an external v5 broker (the embedded aedes speaks 3.1.1 and ignores it). */
  messageExpirySeconds?: number;
}

export interface Bus {
  readonly kind: "embedded" | "external";
  /** Publishes as the cloud. Objects are sent as JSON. */
  publish(topic: string, payload: string | Uint8Array | object, opts?: PublishOptions): Promise<void>;
  /** Subscribes as the cloud; returns an unsubscribe function. Handlers for one bus
   * run one message at a time, in arrival order; a throwing handler is logged, not fatal. */
  subscribe(filter: string, handler: BusHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

function toBuffer(payload: string | Uint8Array | object): Buffer {
  if (typeof payload === "string") return Buffer.from(payload);
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return Buffer.from(JSON.stringify(payload));
}

/** Runs handlers one message at a time so services see requests in order. */
class SerialDispatcher {
  private tail: Promise<void> = Promise.resolve();
  constructor(private log: Logger) {}
  dispatch(handler: BusHandler, msg: BusMessage): void {
    this.tail = this.tail.then(async () => {
      try {
        await handler(msg);
      } catch (e) {
        this.log.error(`bus handler for ${msg.topic} failed: ${(e as Error).stack ?? e}`);
      }
    });
  }
  idle(): Promise<void> {
    return this.tail;
  }
}

export class EmbeddedBus implements Bus {
  readonly kind = "embedded" as const;
  private queue: SerialDispatcher;
  constructor(private broker: Aedes, log: Logger) {
    this.queue = new SerialDispatcher(log);
  }
  publish(topic: string, payload: string | Uint8Array | object, opts: PublishOptions = {}): Promise<void> {
    return new Promise((resolve, reject) =>
      this.broker.publish(
        { cmd: "publish", topic, payload: toBuffer(payload), qos: opts.qos ?? 1, retain: opts.retain ?? false, dup: false },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }
  subscribe(filter: string, handler: BusHandler): Promise<() => Promise<void>> {
    const deliver = (packet: { topic: string; payload: Buffer | string }, cb: () => void) => {
      this.queue.dispatch(handler, { topic: packet.topic, payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload) });
      cb();
    };
    return new Promise((resolve) =>
      this.broker.subscribe(filter, deliver, () =>
        resolve(() => new Promise<void>((r) => this.broker.unsubscribe(filter, deliver, () => r()))),
      ),
    );
  }
  async close(): Promise<void> {
    await this.queue.idle();
  }
}

export class MqttBus implements Bus {
  readonly kind = "external" as const;
  private handlers: { filter: string; handler: BusHandler }[] = [];
  /** MQTT 5 Subscription Identifier of each filter. A broker sends one copy of a message per
   * matching subscription (Mosquitto does, for overlapping filters such as `a/+/b` and `a/+/+`);
   * each copy names its subscription, so a handler runs once per message, not once per copy. */
  private subscriptionIds = new Map<string, number>();
  private queue: SerialDispatcher;
  private constructor(private client: mqtt.MqttClient, log: Logger) {
    this.queue = new SerialDispatcher(log);
    client.on("message", (topic, payload, packet) => {
      const sid = (packet as { properties?: { subscriptionIdentifier?: number | number[] } }).properties?.subscriptionIdentifier;
      const ids = sid === undefined ? undefined : new Set(Array.isArray(sid) ? sid : [sid]);
      for (const h of this.handlers) {
        if (!topicMatches(h.filter, topic)) continue;
        if (ids && !ids.has(this.subscriptionIds.get(h.filter)!)) continue;
        this.queue.dispatch(h.handler, { topic, payload });
      }
    });
    client.on("error", (e) => log.warn(`external broker: ${e.message}`));
  }
  static async connect(url: string, log: Logger, opts: mqtt.IClientOptions = {}): Promise<MqttBus> {
    const client = await mqtt.connectAsync(url, {
      clientId: `xsiot-cloud-${randomUUID().slice(0, 8)}`,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...opts,
    });
    log.info(`services attached to external broker ${url}`);
    return new MqttBus(client, log);
  }
  async publish(topic: string, payload: string | Uint8Array | object, opts: PublishOptions = {}): Promise<void> {
    const properties = opts.messageExpirySeconds !== undefined ? { messageExpiryInterval: opts.messageExpirySeconds } : undefined;
    await this.client.publishAsync(topic, toBuffer(payload), { qos: opts.qos ?? 1, retain: opts.retain ?? false, properties });
  }
  async subscribe(filter: string, handler: BusHandler): Promise<() => Promise<void>> {
    const entry = { filter, handler };
    this.handlers.push(entry);
    const v5 = this.client.options.protocolVersion === 5;
    let id = this.subscriptionIds.get(filter);
    if (id === undefined) this.subscriptionIds.set(filter, (id = this.subscriptionIds.size + 1));
    const granted = await this.client.subscribeAsync(filter, { qos: 1, ...(v5 ? { properties: { subscriptionIdentifier: id } } : {}) });
    if (granted.some((g) => g.qos >= 0x80)) throw new Error(`external broker refused subscription to ${filter}`);
    return async () => {
      this.handlers = this.handlers.filter((h) => h !== entry);
      if (!this.handlers.some((h) => h.filter === filter)) await this.client.unsubscribeAsync(filter);
    };
  }
  async close(): Promise<void> {
    await this.queue.idle();
    await this.client.endAsync();
  }
}
