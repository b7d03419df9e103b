// embedded:io/socket/tcp — Moddable modules/io/socket/lwip/tcp.js + tcp.c, mapped and
// preloaded by modules/io/manifests/esp32/manifest.json. Followed here:
//  - options.address must be a dotted IPv4 string (ipaddr_aton; no host names, no DNS):
//    otherwise Error "invalid address"; port outside 0..65535: RangeError "invalid port";
//    format "buffer" (default) or "number", else RangeError "unimplemented".
//  - onWritable(count) once connected, with the free send buffer (tcp_sndbuf), and again
//    each time sent bytes are acknowledged (tcpSent); onReadable(count) with all bytes
//    buffered, one call per delivery however many segments arrived (tcpDeliver);
//    onError() with no argument, only after the app has read every buffered byte.
//  - read(): undefined when nothing is buffered; read() all; read(n) with n <= 0 or more
//    than buffered throws Error "invalid"; read(view) fills the whole view (same rule)
//    and returns its length; format "number" reads one byte as a number.
//  - write(buffer | byte): Error "not ready" before connect; nothing (undefined) after
//    an error; Error "would block" past the send buffer; returns the free send buffer.
// Not emulated: `from` (listener sockets), nodelay, remoteAddress of a host name.
import { HostSocket, SOCKET_WINDOW, type SecureOptions } from "../sockets.ts";
import { MqttSniffer } from "../mqtt-sniffer.ts";
import { ok, XsError, type DeviceContext, type HostModule } from "./context.ts";
import { secureOptions } from "./tls.ts";

export const xs = String.raw`function (sim) {
  const sockets = new Map();
  const IPV4 = /^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$/;
  class TCP {
    #id;
    #options;
    #format;
    #ready = false;
    #error = false;
    #closed = false;
    #available = 0;
    constructor(options, secure) {
      if (!options || typeof options !== "object") throw new TypeError("options required");
      if (options.from !== undefined) throw new Error("TCP from a listener is not emulated by the virtual ESP32");
      const address = options.address;
      if (typeof address !== "string" || !IPV4.test(address)) throw new Error("invalid address");
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError("invalid port");
      const format = options.format ?? "buffer";
      if (format !== "buffer" && format !== "number") throw new RangeError("unimplemented");
      this.#format = format;
      this.#options = options;
      this.#id = sim.newId();
      sockets.set(this.#id, this);
      if (secure) sim.host({ op: "tcp.open", id: this.#id, address, port, secure: secure.options }, secure.payload);
      else sim.host({ op: "tcp.open", id: this.#id, address, port });
    }
    #check() {
      if (this.#closed) throw new Error("closed");
    }
    get remoteAddress() {
      this.#check();
      return this.#options.address;
    }
    get remotePort() {
      this.#check();
      return this.#options.port;
    }
    get format() {
      this.#check();
      return this.#format;
    }
    set format(value) {
      this.#check();
      if (value !== "buffer" && value !== "number") throw new RangeError("unimplemented");
      this.#format = value;
    }
    read(count) {
      this.#check();
      if (this.#available <= 0) return undefined;
      if (this.#format === "number") {
        this.#available--;
        return new Uint8Array(sim.host({ op: "tcp.read", id: this.#id, count: 1 }).payload)[0];
      }
      let view;
      let requested;
      if (count === undefined) requested = this.#available;
      else if (typeof count === "object" && count !== null) {
        view = ArrayBuffer.isView(count) ? new Uint8Array(count.buffer, count.byteOffset, count.byteLength) : new Uint8Array(count);
        requested = view.byteLength;
      } else requested = Number(count) | 0;
      if (requested <= 0 || requested > this.#available) throw new Error("invalid");
      this.#available -= requested;
      const bytes = sim.host({ op: "tcp.read", id: this.#id, count: requested }).payload;
      if (!view) return bytes;
      view.set(new Uint8Array(bytes));
      return requested;
    }
    write(buffer) {
      this.#check();
      if (!this.#ready && !this.#error) throw new Error("not ready");
      if (this.#error) return undefined;
      const bytes = this.#format === "number" ? Uint8Array.of(Number(buffer) & 0xff).buffer : sim.bytes(buffer);
      return sim.host({ op: "tcp.write", id: this.#id }, bytes).writable;
    }
    close() {
      if (this.#closed) return;
      this.#closed = true;
      sockets.delete(this.#id);
      sim.host({ op: "tcp.close", id: this.#id });
    }
    // One delivery per batch of triggers, as tcp.c's tcpDeliver: onReadable with every
    // byte buffered, then onWritable with the free send buffer (unless the socket
    // closed or failed meanwhile), and onError once the buffers are read.
    _event(e) {
      const o = this.#options;
      if (e.readable) {
        this.#available = e.readable;
        o.onReadable?.call(this, e.readable);
      }
      if (this.#closed) return;
      if (e.writable !== undefined && !e.error) {
        this.#ready = true;
        o.onWritable?.call(this, e.writable);
      }
      if (e.error && !this.#closed) {
        this.#error = true;
        sockets.delete(this.#id);
        o.onError?.call(this);
      }
    }
  }
  sim.TCP = TCP;
  sim.emulations.tcp = () => ({ default: TCP });
  sim.handlers.tcp = (message) => sockets.get(message.id)?._event(message);
}`;

/**
 * lwIP's receive window on Moddable's esp32 build: CONFIG_LWIP_TCP_WND_DEFAULT=8192
 * (build/devices/esp32/xsProj-esp32/sdkconfig.defaults). The peer may not send past it
 * until the app reads (xs_tcp_read calls tcp_recved as it frees each pbuf,
 * modules/io/socket/lwip/tcp.c), so no onReadable ever reports more than this.
 */
export const RECEIVE_WINDOW = 8192;

/** tcp.c's trigger bits (kTCPReadable, kTCPWritable, kTCPError). */
const R = 1;
const W = 2;
const E = 4;

interface Entry {
  socket?: HostSocket;
  sniffer: MqttSniffer;
  /** Bytes written and not yet acknowledged (lwIP: TCP_SND_BUF - tcp_sndbuf). */
  unacked: number;
  acked: number;
  /** Triggers not yet delivered (tcp.c: tcp->triggered). */
  triggered: number;
  /** A delivery is queued for them (tcpTrigger posts one message while none is pending). */
  posted: boolean;
  settle?: ReturnType<typeof setTimeout>;
  error?: string;
  errorPosted: boolean;
  /** Incoming MQTT framing, counted while deliveries are held (SocketHold). */
  inbound?: MqttSniffer;
}

/** MQTT packets counted on the device's sockets since SocketHold.hold(). */
export interface MqttCounts {
  /** Packets the device wrote that the broker answers: CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, PUBLISH QoS 1/2, PUBREL. */
  requests: number;
  /** Their answers received: CONNACK, SUBACK, UNSUBACK, PINGRESP, PUBACK, PUBREC, PUBCOMP. */
  answers: number;
  /** PUBLISH packets received. */
  publishes: number;
  /** Bytes received (MQTT or not). */
  bytesIn: number;
  /** Bytes the device wrote that the host socket has not reported sent yet. */
  unsent: number;
  /** Sockets opened and neither connected nor failed yet. */
  connecting: number;
}

/**
 * For benches: network events stop reaching the app while held, as on a chip whose app
 * task is busy while lwIP's callbacks run: tcp.c's tcpTrigger only sets bits in
 * tcp->triggered, and one tcpDeliver later hands the app everything at once. What the
 * app sees in each delivery then no longer depends on host timing.
 */
export interface SocketHold {
  /** Starts holding (and counting MQTT packets from zero). */
  hold(): void;
  /** Queues one delivery per socket with what was held (readable: every byte that arrived, up to the window); still held after. */
  release(): number;
  /** Resolves once pred holds over the packets counted since hold(). */
  until(pred: (c: MqttCounts) => boolean): Promise<void>;
  /** Stops holding; held triggers are delivered. */
  unhold(): void;
}

/** MQTT packet types a broker answers, and the answers (MQTT 3.1.1 and 5: CONNECT, PUBREL, SUBSCRIBE, UNSUBSCRIBE, PINGREQ). */
const REQUESTS = new Set([1, 6, 8, 10, 12]);
const ANSWERS = new Set([2, 4, 5, 7, 9, 11, 13]);

export function host(dev: DeviceContext): HostModule & { hold: SocketHold } {
  const sockets = new Map<number, Entry>();
  let held = false;
  const counts: MqttCounts = { requests: 0, answers: 0, publishes: 0, bytesIn: 0, unsent: 0, connecting: 0 };
  let waiters: { pred: (c: MqttCounts) => boolean; resolve: () => void }[] = [];
  const counted = () => {
    let unsent = 0;
    let connecting = 0;
    for (const e of sockets.values()) {
      unsent += e.socket?.unsent ?? 0;
      if (!e.error && !e.socket?.connected) connecting++;
    }
    counts.unsent = unsent;
    counts.connecting = connecting;
    waiters = waiters.filter((w) => {
      if (!w.pred(counts)) return true;
      w.resolve();
      return false;
    });
  };

  /** tcp.c tcpDeliver: readable (all buffered bytes), then writable, then the error once the buffers are read. */
  const deliver = (id: number, e: Entry): Record<string, unknown> | undefined => {
    e.posted = false;
    const t = e.triggered;
    e.triggered = 0;
    if (!sockets.has(id)) return undefined;
    const s = e.socket;
    const m: Record<string, unknown> = { type: "tcp", id };
    let any = false;
    if (t & R && s) {
      const count = s.commit(RECEIVE_WINDOW);
      if (count > 0) {
        m.readable = count;
        any = true;
      }
    }
    if (t & W && !e.error && s) {
      e.unacked = Math.max(0, e.unacked - e.acked);
      e.acked = 0;
      m.writable = SOCKET_WINDOW - e.unacked;
      any = true;
    }
    if (e.error && !e.errorPosted && (!s || s.available === 0)) {
      // Moddable delivers the error once the buffers are read.
      e.errorPosted = true;
      sockets.delete(id);
      dev.trace("socket-error", { id, message: e.error });
      m.error = e.error;
      any = true;
    }
    return any ? m : undefined;
  };
  const trigger = (id: number, e: Entry, bits: number) => {
    e.triggered |= bits;
    if (e.posted || held) return;
    e.posted = true;
    dev.post({ type: "tcp", id }, () => deliver(id, e));
  };
  /** Readable when there are bytes the app has not been told of and the window lets it see more. */
  const readable = (id: number, e: Entry) => {
    const s = e.socket;
    if (s && s.available > s.committed && s.committed < RECEIVE_WINDOW) trigger(id, e, R);
  };

  function open(id: number, address: string, port: number, secure: SecureOptions | null): void {
    dev.radioUp();
    const outage = dev.scenario.network.down.some(([a, b]) => dev.now >= a && dev.now < b);
    dev.trace("socket-open", { id, host: address, port, tls: !!secure });
    dev.noteNetActivity();
    const entry: Entry = { sniffer: new MqttSniffer(), unacked: 0, acked: 0, triggered: 0, posted: false, errorPosted: false };
    if (held) entry.inbound = new MqttSniffer();
    sockets.set(id, entry);
    if (outage) {
      // The broker is unreachable: the connect fails after a while, as it would.
      dev.addTimer(dev.now + 3000, -1, "host", 0, () => {
        entry.error = "connect failed: network unreachable (scenario outage)";
        trigger(id, entry, E);
        counted();
      });
      return;
    }
    entry.socket = new HostSocket(id, address, port, secure, dev.faults, (ev) => {
      dev.noteNetActivity();
      if (!sockets.has(id)) return;
      switch (ev.kind) {
        case "connected":
          if (secure) dev.spend("tls", dev.board.power.tlsHandshakeMs.value);
          dev.trace("socket-connected", { id, tls: !!secure });
          trigger(id, entry, W);
          counted();
          break;
        case "data":
          if (entry.inbound) {
            counts.bytesIn += ev.chunk.length;
            entry.inbound.push(ev.chunk, undefined, (type) => {
              if (type === 3) counts.publishes++;
              else if (ANSWERS.has(type)) counts.answers++;
            });
            counted();
          }
          if (held) break; // release() looks at what arrived
          // One delivery per batch: wait until the burst has arrived, then tell the app once.
          entry.socket!.inFlight += entry.settle ? 0 : 1;
          if (entry.settle) clearTimeout(entry.settle);
          entry.settle = setTimeout(() => {
            entry.settle = undefined;
            entry.socket!.inFlight--;
            if (sockets.has(id)) readable(id, entry);
            dev.noteNetActivity();
          }, dev.settleMs);
          break;
        case "sent":
          entry.acked += ev.bytes;
          trigger(id, entry, W);
          counted();
          break;
        case "error":
          entry.error = ev.message;
          if (entry.socket!.available > entry.socket!.committed) trigger(id, entry, R);
          trigger(id, entry, E);
          counted();
          break;
      }
    });
  }

  const hold: SocketHold = {
    hold() {
      held = true;
      Object.assign(counts, { requests: 0, answers: 0, publishes: 0, bytesIn: 0 });
      for (const e of sockets.values()) e.inbound = new MqttSniffer();
    },
    release() {
      let n = 0;
      for (const [id, e] of sockets) {
        if (e.settle) {
          clearTimeout(e.settle);
          e.settle = undefined;
          e.socket!.inFlight--;
        }
        const s = e.socket;
        if (s && s.available > s.committed && s.committed < RECEIVE_WINDOW) e.triggered |= R;
        if (!e.triggered || e.posted) continue;
        e.posted = true;
        n++;
        dev.post({ type: "tcp", id }, () => deliver(id, e));
      }
      return n;
    },
    until(pred) {
      return new Promise((resolve) => {
        waiters.push({ pred, resolve });
        counted();
      });
    },
    unhold() {
      held = false;
      for (const e of sockets.values()) e.inbound = undefined;
      this.release();
    },
  };

  return {
    hold,
    ops: {
      "tcp.open"(m, payload) {
        open(m.id, m.address, m.port, m.secure ? secureOptions(m.secure, payload) : null);
        return ok();
      },
      "tcp.read"(m) {
        const e = sockets.get(m.id);
        if (!e?.socket) return ok({}, new Uint8Array(0));
        const bytes = e.socket.read(m.count);
        if (e.error && e.socket.available === 0) trigger(m.id, e, E);
        // The read frees window: what the peer held back arrives (lwIP tcp_recved).
        else readable(m.id, e);
        return ok({}, bytes);
      },
      "tcp.write"(m, payload) {
        const e = sockets.get(m.id);
        if (!e?.socket) return ok({ writable: undefined });
        const bytes = payload ?? new Uint8Array(0);
        if (bytes.length > SOCKET_WINDOW - e.unacked) throw new XsError("would block");
        e.unacked += bytes.length;
        dev.noteNetActivity();
        dev.spend("tx", dev.energy.txMs(bytes.length));
        e.sniffer.push(
          bytes,
          (p) => dev.trace("publish", { ...p }),
          e.inbound && ((type, flags) => {
            if (REQUESTS.has(type) || (type === 3 && flags & 6)) counts.requests++;
          }),
        );
        e.socket.write(bytes);
        return ok({ writable: SOCKET_WINDOW - e.unacked });
      },
      "tcp.close"(m) {
        const e = sockets.get(m.id);
        if (e) {
          sockets.delete(m.id);
          if (e.settle) {
            // The settle timer counted as bytes in flight: left counted, the socket would never end.
            clearTimeout(e.settle);
            e.settle = undefined;
            if (e.socket) e.socket.inFlight--;
          }
          if (e.socket) {
            e.socket.close();
            dev.trace("socket-close", { id: m.id, bytesOut: e.socket.bytesOut, bytesIn: e.socket.bytesIn, segments: e.socket.segments });
          }
        }
        return ok();
      },
    },
    reset() {
      for (const e of sockets.values()) {
        if (e.settle) clearTimeout(e.settle);
        e.socket?.destroy();
      }
      sockets.clear();
    },
    busy() {
      const replyWait = dev.replyWaitMs;
      const now = performance.now();
      for (const e of sockets.values()) {
        const s = e.socket;
        if (!s) continue;
        if (!s.connected || s.inFlight > 0) return true;
        if (s.awaitingReplySince && now - s.awaitingReplySince < replyWait) return true;
      }
      return false;
    },
    open() {
      let n = 0;
      for (const e of sockets.values()) if (e.socket) n++;
      return n;
    },
    cut() {
      for (const e of sockets.values()) e.socket?.cut();
    },
  };
}
