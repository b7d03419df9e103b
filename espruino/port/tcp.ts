// embedded:io/socket/tcp (ECMA-419, the part sdk/mqtt/client uses) over
// Espruino's require("net"). Espruino delivers data as binary strings and
// buffers writes itself, telling "drain" when its send buffer is empty: the
// socket grants WINDOW bytes of write credit per drain so at most that much
// waits in JsVars. A refused connect throws from the constructor (Espruino
// throws at once), which the MQTT client treats as a failed attempt.
import { whenOnline } from "./wifi";

export interface SocketOptions {
  host?: string;
  address?: string;
  port: number;
  format?: "buffer";
  onReadable?(this: TCP, count: number): void;
  onWritable?(this: TCP, count: number): void;
  onError?(this: TCP, message?: string): void;
  secure?: { ca?: string | ArrayBuffer; certificate?: string | ArrayBuffer; key?: string | ArrayBuffer; serverName?: string; applicationLayerProtocolNegotiation?: string };
}

interface NetSocket {
  on(event: string, f: (v?: any) => void): void;
  write(data: string): void;
  end(): void;
}

/** Bytes written before waiting for Espruino's "drain". */
export const WINDOW = 1024;

export default class TCP {
  private o: SocketOptions;
  private s: NetSocket | null = null;
  private rx: string[] = [];
  private rxn = 0;
  private credit = 0;
  private dead = false;

  constructor(options: SocketOptions) {
    this.o = options;
    const self = this;
    // Connects once the radio is up; a refused connect still throws at once when it already is.
    let sync = true;
    whenOnline((error) => {
      if (self.dead) return;
      if (error) {
        if (sync) throw new Error(error);
        return self.fail(error);
      }
      if (sync) self.connect();
      else {
        try {
          self.connect();
        } catch (e) {
          self.fail(String(e));
        }
      }
    });
    sync = false;
  }

  private connect(): void {
    const self = this;
    const s: NetSocket = this.open({ host: this.o.address || this.o.host, port: this.o.port }, () => {
      if (self.dead) return;
      self.credit = WINDOW;
      if (self.o.onWritable) self.o.onWritable.call(self, WINDOW);
    });
    this.s = s;
    s.on("data", (d: string) => {
      if (self.dead || !d.length) return;
      self.rx.push(d);
      self.rxn += d.length;
      if (self.o.onReadable) self.o.onReadable.call(self, self.rxn);
    });
    s.on("drain", () => {
      if (self.dead || self.credit >= WINDOW) return;
      self.credit = WINDOW;
      if (self.o.onWritable) self.o.onWritable.call(self, WINDOW);
    });
    s.on("error", (e: unknown) => self.fail(e && (e as { message?: string }).message ? (e as { message: string }).message : String(e)));
    s.on("close", () => self.fail("closed by peer"));
  }

  /** Overridden by TLS. */
  protected open(options: { host?: string; port: number }, connected: () => void): NetSocket {
    return require("net").connect(options, connected);
  }

  private fail(message: string): void {
    if (this.dead) return;
    this.dead = true;
    this.s = null;
    if (this.o.onError) this.o.onError.call(this, message);
  }

  /** Up to `count` bytes received, as an ArrayBuffer (undefined when none). */
  read(count?: number): ArrayBuffer | undefined {
    if (!this.rxn) return undefined;
    let n = count === undefined || count > this.rxn ? this.rxn : count;
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const d = this.rx[0];
      const take = d.length <= n - at ? d.length : n - at;
      out.set(E.toUint8Array(take === d.length ? d : d.substr(0, take)), at);
      if (take === d.length) this.rx.shift();
      else this.rx[0] = d.substr(take);
      at += take;
    }
    this.rxn -= n;
    return out.buffer;
  }

  /** Queues bytes on Espruino's socket; returns the write credit left. */
  write(data: ArrayBuffer | ArrayBufferView): number {
    if (this.dead || !this.s) throw new Error("socket closed");
    const b = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.s.write(E.toString(b));
    this.credit = this.credit > b.length ? this.credit - b.length : 0;
    return this.credit;
  }

  close(): void {
    const s = this.s;
    this.dead = true;
    this.s = null;
    this.rx = [];
    this.rxn = 0;
    if (s) s.end();
  }
}
