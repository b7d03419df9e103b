import TCP from "embedded:io/socket/tcp";
import TLS from "embedded:io/socket/tcp/tls";
import Timer from "timer";
import type { MessageHandler, MqttConnection, PublishOptions, PublishProperties, QoS, SubscribeOptions, SubscribeResult } from "./types";
import type { Properties } from "./properties";
import { Action, ConnectInfo, Session, SessionLimits, SubscribeOutcome } from "./session";
import { InflightStore } from "./store";
import { MqttProtocolError } from "./error";
import { topicMatches } from "./topic";
import { utf8Length, utf8Write } from "./utf8";

// MQTTClient: drives the sans-I/O Session over an ECMA-419 TCP or TLS socket,
// with Moddable timers, reconnect with capped exponential backoff and jitter.

export interface MQTTClientOptions {
  host: string;
  /** Default 8883 with tls, 1883 without. */
  port?: number;
  clientId: string;
  tls?: { ca?: string | ArrayBuffer; certificate?: string | ArrayBuffer; key?: string | ArrayBuffer; serverName?: string; alpn?: string };
  /** Seconds, default 60; 0 disables keep-alive. */
  keepAlive?: number;
  will?: { topic: string; payload: string | ArrayBuffer | Uint8Array; qos?: QoS; retain?: boolean; properties?: PublishProperties; delay?: number };
  /** clean: start a new session; expiry: MQTT 5 Session Expiry Interval (s). Default { clean: true }. */
  session?: { clean: boolean; expiry?: number };
  /** 4 = MQTT 3.1.1, 5 = MQTT 5.0 (default). */
  version?: 4 | 5;
  username?: string;
  password?: string | ArrayBuffer | Uint8Array;
  /** Default { minMs: 1000, maxMs: 60000, jitter: 0.5 }; false: never reconnect. */
  reconnect?: { minMs: number; maxMs: number; jitter: number } | false;
  store?: InflightStore;
  onConnect?(info: ConnectInfo): void;
  /** Each time a connection ends: the reason, or undefined after close(). */
  onClose?(error: Error | undefined): void;
  onMessage?(topic: string, payload: ArrayBuffer, properties: PublishProperties): void;
  limits?: Partial<SessionLimits>;
  /** Use MQTT 5 topic aliases outbound when the server allows (default true). */
  topicAliases?: boolean;
  connectTimeoutMs?: number;
  pingTimeoutMs?: number;
  /** Extra MQTT 5 CONNECT properties. */
  connectProperties?: Properties;
  /** Random source for jitter, in [0, 1). Default Math.random. */
  random?(): number;
  /** Clock in ms. Default Date.now. */
  now?(): number;
}

interface Op {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

// Moddable's "timer" module (on every platform; System.setTimeout is Timer.set
// on esp32 and missing on lin). Its ids are Timer objects, not numbers.
type TimerId = ReturnType<typeof Timer.set>;

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
  timer: TimerId | undefined;
}

// What the client uses of an ECMA-419 TCP or TLS socket, typed loosely enough
// for both Moddable's typings (write returns void on TCP, a count on TLS) and the SDK's.
interface Socket {
  read(count: number): unknown;
  write(buffer: Uint8Array): unknown;
  close(): void;
}

function noop(): void {}

/** Marks a promise handled, so one the caller drops never becomes an unhandled rejection. */
function kept<T>(p: Promise<T>): Promise<T> {
  p.catch(noop);
  return p;
}

function bytes(v: string | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (typeof v === "string") {
    const out = new Uint8Array(utf8Length(v));
    utf8Write(v, out, 0);
    return out;
  }
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Calls a user callback; nothing it throws reaches the socket or the VM. */
function safely(what: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    trace(`mqtt: ${what} threw: ${e}\n`);
  }
}

export class MQTTClient implements MqttConnection {
  private options: MQTTClientOptions;
  private session: Session;
  private sock: Socket | null = null;
  private queue: Uint8Array[] = [];
  private writable = 0;
  private opened = false;
  private timer: TimerId | undefined;
  private retryTimer: TimerId | undefined;
  private failTimer: TimerId | undefined;
  private attempt = 0;
  private closed = false;
  private ops = new Map<number, Op>();
  private nextOp = 1;
  private routes: { filter: string; handler: MessageHandler }[] = [];
  private subscriptions = new Map<string, SubscribeOptions>();
  private waiters: Waiter[] = [];
  private now: () => number;
  private random: () => number;

  constructor(options: MQTTClientOptions) {
    this.options = options;
    this.now = options.now || Date.now;
    this.random = options.random || Math.random;
    const w = options.will;
    const s = options.session || { clean: true };
    this.session = new Session({
      version: options.version || 5,
      clientId: options.clientId,
      keepAlive: options.keepAlive ?? 60,
      clean: s.clean,
      expiry: s.expiry,
      username: options.username,
      password: options.password === undefined ? undefined : bytes(options.password),
      will: w ? { topic: w.topic, payload: bytes(w.payload), qos: w.qos, retain: w.retain, properties: w.properties, delay: w.delay } : undefined,
      connectProperties: options.connectProperties,
      store: options.store,
      limits: options.limits,
      topicAliases: options.topicAliases,
      connectTimeoutMs: options.connectTimeoutMs,
      pingTimeoutMs: options.pingTimeoutMs,
    });
    this.connect();
  }

  /** True between CONNACK and the end of the connection. */
  get connected(): boolean {
    return this.session.connected;
  }

  /**
   * Publishes. Resolves when acknowledged (QoS 1: PUBACK, QoS 2: PUBCOMP) or,
   * for QoS 0, when handed to the socket. Before CONNACK the packet is
   * pipelined right after CONNECT; while disconnected it waits (bounded by limits.maxQueued).
   */
  publish(topic: string, payload: ArrayBuffer | Uint8Array | string, options: PublishOptions = {}): Promise<void> {
    return this.op<void>((op) => this.session.publish(topic, bytes(payload), options.qos || 0, !!options.retain, options.properties as Properties | undefined, op, this.now()));
  }

  subscribe(filters: string | string[], options: SubscribeOptions = {}): Promise<SubscribeResult[]> {
    const list = typeof filters === "string" ? [filters] : filters;
    const subs = list.map((filter) => ({ filter, qos: (options.qos || 0) as QoS, noLocal: options.noLocal, retainAsPublished: options.retainAsPublished, retainHandling: options.retainHandling }));
    return kept(this.op<SubscribeOutcome[]>((op) => this.session.subscribe(subs, undefined, op, this.now())).then((results) => {
      for (const r of results) if ("granted" in r) this.subscriptions.set(r.filter, options);
      return results;
    }));
  }

  unsubscribe(filters: string | string[]): Promise<void> {
    const list = typeof filters === "string" ? [filters] : filters;
    for (const f of list) this.subscriptions.delete(f);
    return kept(this.op<unknown>((op) => this.session.unsubscribe(list, op, this.now())).then(noop));
  }

  route(filter: string, handler: MessageHandler): () => void {
    const entry = { filter, handler };
    this.routes.push(entry);
    return () => {
      const i = this.routes.indexOf(entry);
      if (i >= 0) this.routes.splice(i, 1);
    };
  }

  /** Resolves when nothing is left unacknowledged; rejects after deadlineMs. */
  flush(deadlineMs: number): Promise<void> {
    if (!this.session.busy) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      waiter.timer = Timer.set(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`mqtt: flush deadline of ${deadlineMs} ms passed with operations unacknowledged`));
      }, deadlineMs);
      this.waiters.push(waiter);
    });
    return kept(p);
  }

  /** Sends DISCONNECT, closes the socket, rejects what is still waiting. Stored QoS 1/2 packets stay in the store. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Timer.clear(this.retryTimer);
    this.retryTimer = undefined;
    this.run(this.session.disconnect(this.now()));
    this.finish(new Error("mqtt: client closed"));
  }

  // ------------------------------------------------------------ internals

  private op<T>(start: (op: number) => Action[]): Promise<T> {
    const id = this.nextOp++;
    const p = new Promise<T>((resolve, reject) => {
      this.ops.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    kept(p);
    if (this.closed) this.settle(id, new Error("mqtt: client closed"));
    else this.run(start(id));
    return p;
  }

  private settle(id: number, error: Error | null, value?: unknown): void {
    const op = this.ops.get(id);
    if (!op) return;
    this.ops.delete(id);
    if (error) op.reject(error);
    else op.resolve(value);
  }

  private connect(): void {
    this.retryTimer = undefined;
    if (this.closed) return;
    const o = this.options;
    const self = this;
    const tls = o.tls;
    const base = {
      port: o.port || (tls ? 8883 : 1883),
      format: "buffer" as const,
      onReadable(this: unknown, count: number) {
        const sock = this as Socket;
        try {
          self.onReadable(sock, count);
        } catch (e) {
          trace(`mqtt: readable handler failed: ${e}\n`);
        }
      },
      onWritable(this: unknown, count: number) {
        const sock = this as Socket;
        try {
          self.onWritable(sock, count);
        } catch (e) {
          trace(`mqtt: writable handler failed: ${e}\n`);
        }
      },
      onError(this: unknown, message?: string) {
        const sock = this as Socket;
        try {
          self.onSocketError(sock, message);
        } catch (e) {
          trace(`mqtt: error handler failed: ${e}\n`);
        }
      },
    };
    this.opened = false;
    this.writable = 0;
    this.queue.length = 0;
    try {
      if (tls) {
        this.sock = new TLS({
          ...base, host: o.host,
          secure: { ca: tls.ca, certificate: tls.certificate, key: tls.key, serverName: tls.serverName || o.host, applicationLayerProtocolNegotiation: tls.alpn },
        }) as unknown as Socket;
      } else if (/^[0-9.]+$/.test(o.host) || o.host.indexOf(":") >= 0) {
        this.sock = new TCP({ ...base, address: o.host }) as unknown as Socket;
      } else {
        this.sock = new TCP({ ...base, host: o.host }) as unknown as Socket;
      }
    } catch (e) {
      this.sock = null;
      this.ended(new Error(`mqtt: cannot open socket to ${o.host}: ${e}`));
    }
  }

  private onWritable(sock: Socket, count: number): void {
    if (sock !== this.sock) return;
    this.writable = count;
    if (!this.opened) {
      this.opened = true;
      this.run(this.session.open(this.now()));
    } else this.drain();
  }

  private onReadable(sock: Socket, count: number): void {
    if (sock !== this.sock) return;
    while (count > 0 && sock === this.sock) {
      const buf = sock.read(count) as ArrayBuffer | undefined;
      if (!buf || !buf.byteLength) break;
      count -= buf.byteLength;
      this.run(this.session.receive(new Uint8Array(buf), this.now()));
    }
  }

  private onSocketError(sock: Socket, message?: string): void {
    if (sock !== this.sock) return;
    Timer.clear(this.failTimer);
    this.failTimer = undefined;
    // Nothing more can be written to it: without this, the drain at the end of
    // run() would write to the dead socket, fail, and come back here (unbounded recursion).
    this.opened = false;
    this.queue.length = 0;
    this.run(this.session.lost(this.now(), `connection lost${message ? ": " + message : ""}`));
    if (sock === this.sock) {
      // The session had already closed (no close action): still end the socket.
      this.dropSocket();
      this.ended(new Error(`mqtt: connection lost${message ? ": " + message : ""}`));
    }
  }

  private run(actions: Action[]): void {
    for (let i = 0; i < actions.length; i++) {
      const a = actions[i];
      switch (a.type) {
        case "send":
          this.queue.push(a.bytes);
          break;
        case "timer":
          Timer.clear(this.timer);
          this.timer = undefined;
          if (a.at >= 0) {
            this.timer = Timer.set(() => {
              this.timer = undefined;
              try {
                this.run(this.session.tick(this.now()));
              } catch (e) {
                trace(`mqtt: timer failed: ${e}\n`);
              }
            }, Math.max(0, a.at - this.now()));
          }
          break;
        case "connected":
          this.attempt = 0;
          // Their actions run after this batch's, in order.
          if (!a.info.sessionPresent) this.resubscribe(actions);
          safely("onConnect", () => this.options.onConnect && this.options.onConnect(a.info));
          break;
        case "message":
          this.dispatch(a.topic, a.payload, a.properties);
          break;
        case "resolve":
          this.settle(a.op, null, a.value);
          break;
        case "reject":
          this.settle(a.op, a.error);
          break;
        case "close":
          this.drain();
          this.dropSocket();
          if (a.error) this.ended(a.error);
          break;
      }
    }
    this.drain();
    this.checkWaiters();
  }

  private drain(): void {
    const sock = this.sock;
    if (!sock || !this.opened) return;
    const q = this.queue;
    while (q.length && this.writable > 0) {
      const b = q[0];
      const n = b.length <= this.writable ? b.length : this.writable;
      const part = n === b.length ? b : b.subarray(0, n);
      let left: number;
      try {
        left = sock.write(part) as number;
      } catch (e) {
        // The socket died under us. Its onError, already on its way, carries the
        // reason (a TLS alert such as "certificate required", a reset): stop
        // writing and give it a moment to arrive before ending with this vaguer one.
        this.opened = false;
        this.queue.length = 0;
        Timer.clear(this.failTimer);
        const reason = `write failed: ${e}`;
        this.failTimer = Timer.set(() => {
          this.failTimer = undefined;
          try {
            this.onSocketError(sock, reason);
          } catch (err) {
            trace(`mqtt: error handler failed: ${err}\n`);
          }
        }, 250);
        return;
      }
      this.writable = typeof left === "number" ? left : this.writable - n;
      if (n === b.length) q.shift();
      else q[0] = b.subarray(n);
    }
  }

  private dropSocket(): void {
    const sock = this.sock;
    this.sock = null;
    Timer.clear(this.failTimer);
    this.failTimer = undefined;
    this.opened = false;
    this.queue.length = 0;
    Timer.clear(this.timer);
    this.timer = undefined;
    if (sock) {
      try {
        sock.close();
      } catch {
        // already closed
      }
    }
  }

  /** A connection ended with an error: tell the user, then reconnect or give up. */
  private ended(error: Error): void {
    safely("onClose", () => this.options.onClose && this.options.onClose(error));
    if (this.closed) return;
    const r = this.options.reconnect === undefined ? { minMs: 1000, maxMs: 60000, jitter: 0.5 } : this.options.reconnect;
    if (!r) {
      this.closed = true;
      this.finish(error);
      return;
    }
    let delay = Math.min(r.maxMs, r.minMs * Math.pow(2, this.attempt));
    delay -= delay * r.jitter * this.random();
    if (this.attempt < 30) this.attempt++;
    this.retryTimer = Timer.set(() => {
      try {
        this.connect();
      } catch (e) {
        trace(`mqtt: reconnect failed: ${e}\n`);
      }
    }, Math.max(0, Math.round(delay)));
  }

  /** Final: rejects every waiting request and flush. */
  private finish(error: Error): void {
    this.dropSocket();
    const reason = error instanceof MqttProtocolError ? error : new MqttProtocolError(error.message, 0x80);
    this.run(this.session.abort(reason, this.now()));
    this.ops.forEach((op) => op.reject(error));
    this.ops.clear();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      Timer.clear(w.timer);
      w.reject(error);
    }
    if (error.message === "mqtt: client closed") safely("onClose", () => this.options.onClose && this.options.onClose(undefined));
  }

  private checkWaiters(): void {
    if (!this.waiters.length || this.session.busy) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      Timer.clear(w.timer);
      w.resolve();
    }
  }

  private resubscribe(actions: Action[]): void {
    // The server kept no session: subscriptions made on earlier connections are gone.
    this.subscriptions.forEach((options, filter) => {
      const id = this.nextOp++;
      this.ops.set(id, { resolve: noop, reject: (e) => trace(`mqtt: resubscribe ${filter} failed: ${e.message}\n`) });
      const subs = [{ filter, qos: (options.qos || 0) as QoS, noLocal: options.noLocal, retainAsPublished: options.retainAsPublished, retainHandling: options.retainHandling }];
      const more = this.session.subscribe(subs, undefined, id, this.now());
      for (const a of more) actions.push(a);
    });
  }

  private dispatch(topic: string, payload: Uint8Array, properties: Properties): void {
    // The handler gets its own ArrayBuffer (it may keep it). ArrayBuffer.slice is one
    // block copy; TypedArray.slice walks the elements (and XS meters it per byte).
    const buf = (payload.buffer as ArrayBuffer).slice(payload.byteOffset, payload.byteOffset + payload.byteLength) as ArrayBuffer;
    const props = properties as PublishProperties;
    const o = this.options;
    if (o.onMessage) safely("onMessage", () => (o.onMessage as NonNullable<MQTTClientOptions["onMessage"]>)(topic, buf, props));
    const routes = this.routes.slice();
    for (const r of routes) {
      if (topicMatches(r.filter, topic)) safely(`route ${r.filter}`, () => r.handler(topic, buf, props));
    }
  }
}

export default MQTTClient;
