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
    _event(e) {
      const o = this.#options;
      if (e.event === "readable") {
        this.#available = e.count;
        o.onReadable?.call(this, e.count);
      } else if (e.event === "writable") {
        this.#ready = true;
        o.onWritable?.call(this, e.count);
      } else if (e.event === "error") {
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

/** Real time a burst of incoming segments may take to arrive before the app hears of it as one batch. */
const SETTLE_MS = 2;

interface Entry {
  socket?: HostSocket;
  sniffer: MqttSniffer;
  /** Bytes written and not yet acknowledged (lwIP: TCP_SND_BUF - tcp_sndbuf). */
  unacked: number;
  acked: number;
  readablePosted: boolean;
  writablePosted: boolean;
  settle?: ReturnType<typeof setTimeout>;
  error?: string;
  errorPosted: boolean;
}

export function host(dev: DeviceContext): HostModule {
  const sockets = new Map<number, Entry>();

  const postReadable = (id: number, e: Entry) => {
    if (e.readablePosted) return;
    e.readablePosted = true;
    dev.post({ type: "tcp", id, event: "readable" }, () => {
      e.readablePosted = false;
      if (!e.socket || !sockets.has(id)) return undefined;
      const count = e.socket.commit();
      return count > 0 ? { type: "tcp", id, event: "readable", count } : undefined;
    });
  };
  const postError = (id: number, e: Entry) => {
    if (e.errorPosted || !e.error) return;
    if (e.socket && e.socket.available > 0) return; // Moddable delivers the error once the buffers are read
    e.errorPosted = true;
    sockets.delete(id);
    dev.trace("socket-error", { id, message: e.error });
    dev.post({ type: "tcp", id, event: "error", message: e.error });
  };

  function open(id: number, address: string, port: number, secure: SecureOptions | null): void {
    dev.radioUp();
    const outage = dev.scenario.network.down.some(([a, b]) => dev.now >= a && dev.now < b);
    dev.trace("socket-open", { id, host: address, port, tls: !!secure });
    dev.noteNetActivity();
    const entry: Entry = { sniffer: new MqttSniffer(), unacked: 0, acked: 0, readablePosted: false, writablePosted: false, errorPosted: false };
    sockets.set(id, entry);
    if (outage) {
      // The broker is unreachable: the connect fails after a while, as it would.
      dev.addTimer(dev.now + 3000, -1, "host", 0, () => {
        entry.error = "connect failed: network unreachable (scenario outage)";
        postError(id, entry);
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
          dev.post({ type: "tcp", id, event: "writable", count: SOCKET_WINDOW });
          break;
        case "data":
          // One delivery per batch: wait until the burst has arrived, then tell the app once.
          entry.socket!.inFlight += entry.settle ? 0 : 1;
          if (entry.settle) clearTimeout(entry.settle);
          entry.settle = setTimeout(() => {
            entry.settle = undefined;
            entry.socket!.inFlight--;
            if (sockets.has(id)) postReadable(id, entry);
            dev.noteNetActivity();
          }, SETTLE_MS);
          break;
        case "sent":
          entry.acked += ev.bytes;
          if (!entry.writablePosted) {
            entry.writablePosted = true;
            dev.post({ type: "tcp", id, event: "writable" }, () => {
              entry.writablePosted = false;
              entry.unacked = Math.max(0, entry.unacked - entry.acked);
              entry.acked = 0;
              if (!sockets.has(id) || entry.error) return undefined;
              return { type: "tcp", id, event: "writable", count: SOCKET_WINDOW - entry.unacked };
            });
          }
          break;
        case "error":
          entry.error = ev.message;
          if (entry.socket!.available > entry.socket!.committed) postReadable(id, entry);
          postError(id, entry);
          break;
      }
    });
  }

  return {
    ops: {
      "tcp.open"(m, payload) {
        open(m.id, m.address, m.port, m.secure ? secureOptions(m.secure, payload) : null);
        return ok();
      },
      "tcp.read"(m) {
        const e = sockets.get(m.id);
        if (!e?.socket) return ok({}, new Uint8Array(0));
        const bytes = e.socket.read(m.count);
        if (e.error && e.socket.available === 0) postError(m.id, e);
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
        e.sniffer.push(bytes, (p) => dev.trace("publish", { ...p }));
        e.socket.write(bytes);
        return ok({ writable: SOCKET_WINDOW - e.unacked });
      },
      "tcp.close"(m) {
        const e = sockets.get(m.id);
        if (e) {
          sockets.delete(m.id);
          if (e.settle) clearTimeout(e.settle);
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
