// Real host sockets behind the virtual ESP32's embedded:io/socket/tcp(/tls),
// with the fault hook tests drive: added latency, dropped or split traffic,
// and cuts.
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface SocketFaults {
  /** Added one-way latency, ms, each direction. */
  latencyMs: number;
  /** Split every write into chunks of at most this many bytes, sent apart. */
  splitWrites: number;
  /** Silently discard incoming bytes (a black hole). */
  dropIncoming: boolean;
  /** Silently discard outgoing bytes. */
  dropOutgoing: boolean;
}

export function defaultFaults(): SocketFaults {
  return { latencyMs: 0, splitWrites: 0, dropIncoming: false, dropOutgoing: false };
}

export interface SecureOptions {
  ca?: string;
  certificate?: string;
  key?: string;
  serverName?: string;
  alpn?: string;
  /** Verify the server's chain against `ca` (Moddable: secure.verify, default true). */
  verify?: boolean;
}

export type SocketEvent =
  | { kind: "connected" }
  | { kind: "data"; bytes: number; chunk: Uint8Array }
  /** Bytes the host socket handed to the network (lwIP would see them acknowledged). */
  | { kind: "sent"; bytes: number }
  | { kind: "error"; message: string };

/**
 * lwIP's send buffer on Moddable's esp32 build: CONFIG_LWIP_TCP_SND_BUF_DEFAULT=8192
 * (build/devices/esp32/xsProj-esp32/sdkconfig.defaults). tcp_write past it fails:
 * Moddable's xs_tcp_write throws "would block" (modules/io/socket/lwip/tcp.c).
 */
export const SOCKET_WINDOW = 8192;

export class HostSocket {
  private readonly socket: Socket;
  private rx: Buffer[] = [];
  private rxBytes = 0;
  private closed = false;
  /** Writes and deliveries waiting out the added latency. */
  inFlight = 0;
  /** Real time of the last write not yet followed by incoming bytes (0: none). */
  awaitingReplySince = 0;
  connected = false;
  bytesOut = 0;
  /** Bytes written that the host socket has not reported handed to the network yet. */
  unsent = 0;
  /** Writes handed to the host socket (a split write counts each piece). */
  segments = 0;
  bytesIn = 0;
  readonly openedAt = Date.now();

  constructor(
    readonly id: number,
    host: string,
    port: number,
    secure: SecureOptions | null,
    private readonly faults: SocketFaults,
    private readonly emit: (e: SocketEvent) => void,
  ) {
    const onConnect = () => {
      this.later(() => {
        this.connected = true;
        this.emit({ kind: "connected" });
      });
    };
    if (secure) {
      this.socket = tlsConnect({
        host,
        port,
        ca: secure.ca,
        cert: secure.certificate,
        key: secure.key,
        servername: /^[\d.]+$/.test(secure.serverName ?? host) ? undefined : (secure.serverName ?? host),
        ALPNProtocols: secure.alpn ? [secure.alpn] : undefined,
        rejectUnauthorized: secure.verify !== false,
        checkServerIdentity: () => undefined, // the local cloud's certificates name loopback, not a DNS host
      });
      this.socket.once("secureConnect", onConnect);
    } else {
      this.socket = netConnect({ host, port });
      this.socket.once("connect", onConnect);
    }
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk: Buffer) => {
      if (this.faults.dropIncoming) return;
      this.later(() => {
        if (this.closed) return;
        this.awaitingReplySince = 0;
        this.rx.push(chunk);
        this.rxBytes += chunk.length;
        this.bytesIn += chunk.length;
        this.emit({ kind: "data", bytes: this.rxBytes, chunk });
      });
    });
    this.socket.on("error", (err) => this.fail(err.message));
    this.socket.on("close", () => this.fail("connection closed by peer"));
  }

  private failed = false;
  private fail(message: string): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.later(() => {
      if (!this.closed) this.emit({ kind: "error", message });
    });
  }

  private later(fn: () => void): void {
    if (this.faults.latencyMs <= 0) return fn();
    this.inFlight++;
    setTimeout(() => {
      this.inFlight--;
      fn();
      this.endIfDrained();
    }, this.faults.latencyMs);
  }

  /** Bytes that arrived, delivered to the app or not. */
  get available(): number {
    return this.rxBytes;
  }

  /**
   * Bytes the app has been told of (onReadable's count). Only these can be read:
   * what arrives while a delivery runs waits for the next delivery, so what the
   * app sees does not depend on real timing inside a delivery.
   */
  committed = 0;
  /** Tells the app of what has arrived, up to `window` bytes in all (lwIP's receive window). */
  commit(window = Infinity): number {
    this.committed = Math.min(this.rxBytes, window);
    return this.committed;
  }

  read(count: number): Uint8Array {
    const n = count < 0 ? this.committed : Math.min(count, this.committed);
    this.committed -= n;
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const head = this.rx[0];
      const take = Math.min(head.length, n - o);
      out.set(head.subarray(0, take), o);
      o += take;
      if (take === head.length) this.rx.shift();
      else this.rx[0] = head.subarray(take);
    }
    this.rxBytes -= n;
    return out;
  }

  write(bytes: Uint8Array): void {
    if (this.closed || this.failed) throw new Error("socket is closed");
    this.bytesOut += bytes.length;
    this.unsent += bytes.length;
    if (!this.awaitingReplySince) this.awaitingReplySince = performance.now();
    if (this.faults.dropOutgoing) return; // never acknowledged: the send buffer fills, as over a black hole
    const copy = Buffer.from(bytes);
    // Latency delays every write by the same amount, so writes leave in order.
    this.later(() => this.enqueue(copy));
  }

  /**
   * One outgoing queue per socket: a split write's pieces leave one per timer
   * tick, after every piece of the writes before it, so a fault may delay or
   * split the stream but never reorder it (TCP is a byte stream).
   */
  private readonly outgoing: Buffer[] = [];
  private pumping = false;
  private enqueue(bytes: Buffer): void {
    if (this.socket.destroyed) return; // written before close(): still sent, as a TCP stack would
    const split = this.faults.splitWrites;
    if (split > 0 && bytes.length > split) {
      for (let o = 0; o < bytes.length; o += split) this.outgoing.push(bytes.subarray(o, o + split));
    } else this.outgoing.push(bytes);
    if (!this.pumping) this.pump();
  }
  private pump(): void {
    const piece = this.outgoing.shift();
    if (piece === undefined || this.socket.destroyed) {
      this.outgoing.length = 0;
      this.pumping = false;
      this.endIfDrained();
      return;
    }
    this.segments++;
    this.socket.write(piece, (err) => {
      if (!err) this.unsent -= piece.length;
      if (!err && !this.closed) this.emit({ kind: "sent", bytes: piece.length });
    });
    if (this.outgoing.length === 0) {
      this.pumping = false;
      this.endIfDrained();
      return;
    }
    // More pieces: the next leaves apart from this one.
    this.pumping = true;
    this.inFlight++;
    setTimeout(() => {
      this.inFlight--;
      this.pump();
    }, 1);
  }

  private ending = false;
  private endIfDrained(): void {
    if (!this.ending || this.inFlight > 0 || this.outgoing.length > 0) return;
    if (!this.socket.destroyed) this.socket.end();
  }

  /** The device closed it: what it wrote before still goes out (a FIN, not a reset). */
  close(): void {
    this.closed = true;
    this.ending = true;
    this.endIfDrained();
  }

  /** A fault: the link dies under the device (RST), which sees an error. */
  cut(): void {
    this.socket.destroy();
    this.fail("connection reset (fault injected)");
  }

  /** Power cut: the socket vanishes without the device ever hearing of it. */
  destroy(): void {
    this.closed = true;
    try {
      this.socket.resetAndDestroy?.() ?? this.socket.destroy();
    } catch {
      // A TLS socket has no TCP handle to reset (ERR_INVALID_HANDLE_TYPE): just drop it.
      this.socket.destroy();
    }
  }
}
