import TCP from "embedded:io/socket/tcp";
import Timer from "timer";
import type { MessageHandler, MqttConnection, PublishOptions, PublishProperties, QoS, SubscribeOptions, SubscribeResult } from "./types";
import type { Properties } from "./properties";
import { ConnectInfo, MqttCounters, Session, SessionEvents, SessionLimits, SessionOptions, Subscription, SubscribeOutcome, type V5 } from "./session";
import type { InflightStore } from "./store";
import { MqttProtocolError } from "./error";
import { topicMatches } from "./topic";
import { utf8Length, utf8Write } from "../text/utf8";

// MQTTClient: drives the sans-I/O Session over an ECMA-419 TCP socket (or the
// TLS socket class the app passes), with Moddable timers, reconnect with
// capped exponential backoff and jitter. This module is the MQTT 3.1.1 client;
// ./client adds MQTT 5 (the default there).

export interface MQTTClientOptions {
  host: string;
  /** Default 8883 with tls, 1883 without. */
  port?: number;
  clientId: string;
  /**
   * The socket class: default TCP (embedded:io/socket/tcp). For TLS pass the class
   * from "embedded:io/socket/tcp/tls" (the app's manifest includes Moddable's
   * examples/io/tcp/tlssocket/manifest.json, which maps it) with `tls`.
   */
  socket?: unknown;
  /**
   * With ./client: { ca, certificate, key } as PEM text (PKCS#8 key) or DER, serverName, alpn.
   * With ./client311: the `secure` object of Moddable's TLS socket, passed as is.
   */
  tls?: { ca?: string | ArrayBuffer; certificate?: string | ArrayBuffer; key?: string | ArrayBuffer; serverName?: string; alpn?: string };
  /** Seconds, default 60; 0 disables keep-alive. */
  keepAlive?: number;
  will?: { topic: string; payload: string | ArrayBuffer | Uint8Array; qos?: QoS; retain?: boolean; properties?: PublishProperties; delay?: number };
  /** clean: start a new session; expiry: MQTT 5 Session Expiry Interval (s). Default { clean: true }. */
  session?: { clean: boolean; expiry?: number };
  /** 4 = MQTT 3.1.1, 5 = MQTT 5.0 (default with ./client; ./client311 has only 4). */
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

/** Called once when a publish, subscribe or unsubscribe finishes. */
export type Done<T = void> = (error: Error | undefined, value?: T) => void;

// Moddable's "timer" module (on every platform; System.setTimeout is Timer.set
// on esp32 and missing on lin). Its ids are Timer objects, not numbers.
type TimerId = ReturnType<typeof Timer.set>;

// What the client uses of an ECMA-419 TCP or TLS socket, typed loosely enough
// for both Moddable's typings (write returns void on TCP, a count on TLS) and the SDK's.
interface Socket {
  read(count: number): unknown;
  write(buffer: Uint8Array): unknown;
  close(): void;
}
type SocketClass = new (options: object) => Socket;

/** What ./client adds to the 3.1.1 client. */
export interface Extensions {
  v5?: V5;
  /** Turns the `tls` option into the TLS socket's `secure` object. */
  secure?(tls: NonNullable<MQTTClientOptions["tls"]>, host: string): object;
}

/** A promise's two ends: what a request carries as its `op` when the caller wants a Promise (a plain object: a class costs bytecode). */
interface Deferred {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
  timer: TimerId | undefined;
}

const NO_PROPS: PublishProperties = Object.freeze({}) as PublishProperties;
// Shared while empty (copied on write), so an idle client holds no array for them.
const NONE: never[] = Object.freeze([]) as unknown as never[];
const CLOSED = "mqtt: client closed";

function noop(): void {}

function bytes(v: string | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (typeof v === "string") {
    const out = new Uint8Array(utf8Length(v));
    utf8Write(v, out, 0);
    return out;
  }
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function fault(what: string, e: unknown): void {
  trace(`mqtt: ${what} threw: ${e}\n`);
}

function subscription(filter: string, options: SubscribeOptions): Subscription {
  return { filter, qos: (options.qos || 0) as QoS, noLocal: options.noLocal, retainAsPublished: options.retainAsPublished, retainHandling: options.retainHandling };
}

/** A deferred made into a promise, marked handled so one the caller drops never becomes an unhandled rejection. */
function promise<T>(d: Deferred): Promise<T> {
  const p = new Promise<T>((resolve, reject) => {
    d.resolve = resolve as (v: unknown) => void;
    d.reject = reject;
  });
  p.catch(noop);
  return p;
}

export class MQTTClient implements MqttConnection {
  // Declared and set in the constructor (class field initializers cost bytecode).
  // A field is set only once it has something (the timers, the write queue, routes,
  // flush waiters, the extensions): each field costs an idle client a heap slot.
  private declare o: MQTTClientOptions;
  private declare s: Session;
  private declare sock: Socket | null;
  private declare queue: Uint8Array[] | undefined;
  /** Bytes the socket takes now; -1 until it first says it is writable (connected). */
  private declare writable: number;
  private declare tickTimer: TimerId | undefined;
  private declare retryTimer: TimerId | undefined;
  private declare failTimer: TimerId | undefined;
  /** Connection attempts since the last CONNACK; set at the first failure. */
  private declare attempt: number | undefined;
  private declare closed: boolean;
  private declare routes: [string, MessageHandler][] | undefined;
  /** Filter -> options, for resubscribing when the server kept no session (no prototype: any filter is a key). */
  private declare subscriptions: Record<string, SubscribeOptions>;
  private declare waiters: Waiter[] | undefined;
  private declare x: Extensions | undefined;

  constructor(options: MQTTClientOptions, x?: Extensions) {
    this.o = options;
    if (x) this.x = x;
    this.sock = null;
    this.writable = -1;
    this.closed = false;
    this.subscriptions = Object.create(null);
    const v5 = x && x.v5;
    if (options.tls && !options.socket) throw new Error("mqtt: tls needs options.socket (the TLS class)");
    const w = options.will;
    const s = options.session || { clean: true };
    const so: Record<string, unknown> = {
      version: options.version || (v5 ? 5 : 4),
      keepAlive: options.keepAlive ?? 60,
      clean: s.clean,
    };
    // The session keeps these for good: no slots for options not given.
    const given = options as unknown as Record<string, unknown>;
    // Index loops throughout: for-of costs XS ~100 B of bytecode more each.
    const keys = "clientId username connectProperties store limits topicAliases connectTimeoutMs pingTimeoutMs".split(" ");
    for (let i = 0; i < keys.length; i++) if (given[keys[i]] !== undefined) so[keys[i]] = given[keys[i]];
    if (s.expiry !== undefined) so.expiry = s.expiry;
    if (options.password !== undefined) so.password = bytes(options.password);
    if (w) so.will = { ...w, payload: bytes(w.payload) };
    this.s = new Session(so as unknown as SessionOptions, this as unknown as SessionEvents, v5);
    this.connect();
  }

  /** True between CONNACK and the end of the connection. */
  get connected(): boolean {
    return this.s.connected;
  }

  private now(): number {
    const f = this.o.now;
    return f ? f() : Date.now();
  }

  /** Cumulative traffic counters (bytes, packets, connection attempts, connections). */
  get counters(): Readonly<MqttCounters> {
    return this.s.counters;
  }

  /**
   * Publishes. Done when acknowledged (QoS 1: PUBACK, QoS 2: PUBCOMP) or, for
   * QoS 0, when handed to the socket. With `done` it calls it and returns
   * nothing (no Promise is made); without, it returns a Promise. Before CONNACK
   * the packet is pipelined right after CONNECT; while disconnected it waits
   * (bounded by limits.maxQueued).
   */
  publish(topic: string, payload: ArrayBuffer | Uint8Array | string, options?: PublishOptions): Promise<void>;
  publish(topic: string, payload: ArrayBuffer | Uint8Array | string, options: PublishOptions | undefined, done: Done): void;
  publish(topic: string, payload: ArrayBuffer | Uint8Array | string, options?: PublishOptions, done?: Done): Promise<void> | void {
    let op: unknown = done, p: Promise<void> | undefined;
    if (!done) p = promise<void>((op = {}) as Deferred);
    if (this.closed) this.done(op, new MqttProtocolError(CLOSED, 0x80));
    else {
      const s = this.s;
      s.publish(topic, bytes(payload), options ? options.qos || 0 : 0, !!(options && options.retain), options && options.properties as Properties | undefined, op, this.now());
      this.check();
    }
    return p;
  }

  subscribe(filters: string | string[], options: SubscribeOptions = {}): Promise<SubscribeResult[]> {
    const list = typeof filters === "string" ? [filters] : filters;
    return this.request(list.map((filter) => subscription(filter, options)), options) as Promise<SubscribeResult[]>;
  }

  unsubscribe(filters: string | string[]): Promise<void> {
    const list = typeof filters === "string" ? [filters] : filters;
    for (let i = 0; i < list.length; i++) delete this.subscriptions[list[i]];
    return this.request(list) as Promise<void>;
  }

  /** SUBSCRIBE (with `options`: remembered for resubscribing) or UNSUBSCRIBE, as a Promise. */
  private request(list: Subscription[] | string[], options?: SubscribeOptions): Promise<unknown> {
    const d = {} as Deferred;
    const p = promise<unknown>(d);
    const done: Done<SubscribeOutcome[]> = (e, results) => {
      if (e) return d.reject(e);
      if (options) for (let i = 0; i < results!.length; i++) if ("granted" in results![i]) this.subscriptions[results![i].filter] = options;
      d.resolve(options ? results : undefined);
    };
    if (this.closed) done(new MqttProtocolError(CLOSED, 0x80));
    else if (options) this.s.subscribe(list as Subscription[], undefined, done, this.now());
    else this.s.unsubscribe(list as string[], done, this.now());
    return p;
  }

  route(filter: string, handler: MessageHandler): () => void {
    // Copy on write: a handler may add or remove routes while a message is dispatched.
    const entry: [string, MessageHandler] = [filter, handler];
    this.routes = (this.routes || NONE).concat([entry]);
    return () => {
      const left = (this.routes || NONE).filter((e) => e !== entry);
      this.routes = left.length ? left : undefined;
    };
  }

  /** Resolves when nothing is left unacknowledged; rejects after deadlineMs. */
  flush(deadlineMs: number): Promise<void> {
    if (!this.s.busy) return Promise.resolve();
    const d = {} as Deferred;
    const p = promise<void>(d);
    const waiter: Waiter = { resolve: d.resolve as () => void, reject: d.reject, timer: undefined };
    waiter.timer = Timer.set(() => {
      const left = (this.waiters || NONE).filter((w) => w !== waiter);
      this.waiters = left.length ? left : undefined;
      waiter.reject(new Error(`mqtt: flush: ${deadlineMs} ms passed`));
    }, deadlineMs);
    this.waiters = (this.waiters || NONE).concat([waiter]);
    return p;
  }

  /** Sends DISCONNECT, closes the socket, rejects what is still waiting. Stored QoS 1/2 packets stay in the store. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) {
      Timer.clear(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.s.disconnect(this.now());
    this.finish(new Error(CLOSED));
  }

  // ------------------------------------------------------------ session events (SessionEvents)

  /** @internal */
  send(b: Uint8Array): void {
    const q = this.queue;
    if (q) q.push(b);
    else {
      this.queue = [b];
      this.drain();
    }
  }

  /** @internal */
  timer(at: number): void {
    if (!this.tickTimer && at < 0) return;
    Timer.clear(this.tickTimer);
    this.tickTimer = at < 0 ? undefined : Timer.set(() => {
      this.tickTimer = undefined;
      try {
        this.s.tick(this.now());
      } catch (e) {
        fault("timer", e);
      }
    }, Math.max(0, at - this.now()));
  }

  /** @internal */
  up(info: ConnectInfo): void {
    if (this.attempt) this.attempt = 0;
    if (!info.sessionPresent) this.resubscribe();
    const f = this.o.onConnect;
    if (f) {
      try {
        f(info);
      } catch (e) {
        fault("onConnect", e);
      }
    }
  }

  /** @internal */
  message(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, dup: boolean, properties: Properties | undefined): void {
    // The handler gets its own ArrayBuffer (it may keep it). ArrayBuffer.slice is one
    // block copy; TypedArray.slice walks the elements (and XS meters it per byte).
    const o = payload.byteOffset;
    const buf = (payload.buffer as ArrayBuffer).slice(o, o + payload.byteLength);
    const props = (properties || NO_PROPS) as PublishProperties;
    const f = this.o.onMessage;
    if (f) {
      try {
        f(topic, buf, props);
      } catch (e) {
        fault("onMessage", e);
      }
    }
    const routes = this.routes || NONE;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i];
      if (topicMatches(r[0], topic)) {
        try {
          r[1](topic, buf, props);
        } catch (e) {
          fault(`route ${r[0]}`, e);
        }
      }
    }
  }

  /** @internal */
  done(op: unknown, error: Error | null, value?: unknown): void {
    if (!op) return;
    if (typeof op === "function") {
      try {
        (op as Done<unknown>)(error || undefined, value);
      } catch (e) {
        fault("callback", e);
      }
    } else if (error) (op as Deferred).reject(error);
    else (op as Deferred).resolve(value);
  }

  /** @internal */
  down(error: MqttProtocolError | null): void {
    this.drain();
    this.dropSocket();
    if (error) this.ended(error);
  }

  // ------------------------------------------------------------ internals

  private connect(): void {
    if (this.retryTimer) this.retryTimer = undefined;
    if (this.closed) return;
    const o = this.o;
    const self = this;
    const tls = o.tls;
    // This connection's socket, captured rather than taken from `this` in the callbacks:
    // Moddable's examples/io/tcp/tlssocket/tlssocket.js calls them as methods of its own
    // callbacks object (`this.#callbacks.onWritable?.(...)`), not with `this` = the socket.
    let sock: Socket | null = null;
    // One function serves onReadable(count) and onError(), which has no argument
    // (modules/io/socket/lwip/tcp.c:519, tlssocket.js `onError?.()`): each closure
    // costs a connected client about ten heap slots.
    const readableOrError = (count?: number | string) => {
      try {
        if (sock) {
          if (typeof count === "number") self.onReadable(sock, count);
          else self.onSocketError(sock, count);
        }
      } catch (e) {
        fault("socket", e);
      }
    };
    const options: Record<string, unknown> = {
      // No `format`: "buffer" is the default (modules/io/socket/lwip/tcp.c:100).
      port: o.port || (tls ? 8883 : 1883),
      onReadable: readableOrError,
      onWritable(count: number) {
        try {
          if (sock) self.onWritable(sock, count);
        } catch (e) {
          fault("socket", e);
        }
      },
      onError: readableOrError,
    };
    // Moddable's TCP takes a dotted address (modules/io/socket/lwip/tcp.c); TLS runs over
    // the TCP class given as options.TCP.io, with `host` as the default server name.
    if (/^[0-9.]+$/.test(o.host) || o.host.indexOf(":") >= 0) options.address = o.host;
    if (tls) {
      const x = this.x;
      options.host = o.host;
      options.TCP = { io: TCP };
      options.secure = x && x.secure ? x.secure(tls, o.host) : tls;
    } else if (!options.address) options.host = o.host;
    this.writable = -1;
    if (this.queue) this.queue = undefined;
    try {
      this.sock = sock = new ((o.socket || TCP) as SocketClass)(options);
    } catch (e) {
      this.sock = null;
      this.ended(new Error(`mqtt: socket: ${e}`));
    }
  }

  private onWritable(sock: Socket, count: number): void {
    if (sock !== this.sock) return;
    const opening = this.writable < 0;
    this.writable = count;
    if (opening) this.s.open(this.now());
    this.drain();
  }

  private onReadable(sock: Socket, count: number): void {
    if (sock !== this.sock) return;
    const s = this.s;
    while (count > 0 && sock === this.sock) {
      const buf = sock.read(count) as ArrayBuffer | undefined;
      if (!buf || !buf.byteLength) break;
      count -= buf.byteLength;
      s.receive(new Uint8Array(buf), this.now());
    }
    this.check();
  }

  private onSocketError(sock: Socket, message?: string): void {
    if (sock !== this.sock) return;
    Timer.clear(this.failTimer);
    this.failTimer = undefined;
    // Nothing more can be written to it.
    this.writable = -1;
    if (this.queue) this.queue = undefined;
    const why = `connection lost${message ? ": " + message : ""}`;
    this.s.lost(this.now(), why);
    if (sock === this.sock) {
      // The session had already closed (no close event): still end the socket.
      this.dropSocket();
      this.ended(new Error(`mqtt: ${why}`));
    }
  }

  private drain(): void {
    const sock = this.sock;
    if (!sock || this.writable < 0) return;
    const q = this.queue;
    if (!q) return;
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
        this.writable = -1;
        this.queue = undefined;
        Timer.clear(this.failTimer);
        const reason = `write failed: ${e}`;
        this.failTimer = Timer.set(() => {
          this.failTimer = undefined;
          try {
            this.onSocketError(sock, reason);
          } catch (err) {
            fault("error handler", err);
          }
        }, 250);
        return;
      }
      this.writable = typeof left === "number" ? left : this.writable - n;
      if (n === b.length) q.shift();
      else q[0] = b.subarray(n);
    }
    if (!q.length && q === this.queue) this.queue = undefined;
  }

  private dropSocket(): void {
    const sock = this.sock;
    this.sock = null;
    if (this.failTimer) {
      Timer.clear(this.failTimer);
      this.failTimer = undefined;
    }
    this.writable = -1;
    if (this.queue) this.queue = undefined;
    if (this.tickTimer) {
      Timer.clear(this.tickTimer);
      this.tickTimer = undefined;
    }
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
    this.onClose(error);
    if (this.closed) return;
    const r = this.o.reconnect === undefined ? { minMs: 1000, maxMs: 60000, jitter: 0.5 } : this.o.reconnect;
    if (!r) {
      this.closed = true;
      this.finish(error);
      return;
    }
    const attempt = this.attempt || 0;
    let delay = Math.min(r.maxMs, r.minMs * Math.pow(2, attempt));
    delay -= delay * r.jitter * (this.o.random || Math.random)();
    if (attempt < 30) this.attempt = attempt + 1;
    this.retryTimer = Timer.set(() => {
      try {
        this.connect();
      } catch (e) {
        fault("reconnect", e);
      }
    }, Math.max(0, Math.round(delay)));
  }

  private onClose(error: Error | undefined): void {
    const f = this.o.onClose;
    if (f) {
      try {
        f(error);
      } catch (e) {
        fault("onClose", e);
      }
    }
  }

  /** Final: rejects every waiting request and flush. */
  private finish(error: Error): void {
    this.dropSocket();
    this.s.abort(error instanceof MqttProtocolError ? error : new MqttProtocolError(error.message, 0x80));
    const waiters = this.waiters || NONE;
    this.waiters = undefined;
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      Timer.clear(w.timer);
      w.reject(error);
    }
    if (error.message === CLOSED) this.onClose(undefined);
  }

  /** Resolves flush() waiters once nothing is left. */
  private check(): void {
    const waiters = this.waiters;
    if (!waiters || this.s.busy) return;
    this.waiters = undefined;
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      Timer.clear(w.timer);
      w.resolve();
    }
  }

  private resubscribe(): void {
    // The server kept no session: subscriptions made on earlier connections are gone.
    const subs = this.subscriptions;
    for (const filter in subs) {
      this.s.subscribe([subscription(filter, subs[filter])], undefined, (e: Error | undefined) => {
        if (e) trace(`mqtt: resubscribe ${filter} failed: ${e.message}\n`);
      }, this.now());
    }
  }
}

export default MQTTClient;
