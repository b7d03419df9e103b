// Host stand-in for ECMA-419 embedded:io/socket/tcp over node:net (client smoke test only).
import net from "node:net";

const WINDOW = 64 * 1024;

export default class TCP {
  protected sock: net.Socket;
  private chunks: Buffer[] = [];
  private buffered = 0;
  format = "buffer";
  constructor(o: any) {
    this.sock = this.open(o);
    const s = this.sock;
    s.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.buffered += d.length;
      o.onReadable?.call(this, this.buffered);
    });
    s.on("error", (e: Error) => o.onError?.call(this, e.message));
    s.on("close", () => o.onError?.call(this, "closed"));
  }
  protected open(o: any): net.Socket {
    const s = net.connect({ host: o.address ?? o.host, port: o.port });
    s.on("connect", () => o.onWritable?.call(this, WINDOW));
    return s;
  }
  get remoteAddress() { return this.sock.remoteAddress; }
  get remotePort() { return this.sock.remotePort; }
  read(count = this.buffered): ArrayBuffer | undefined {
    if (!this.buffered) return undefined;
    const all = Buffer.concat(this.chunks);
    const n = Math.min(count, all.length);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return new Uint8Array(all.subarray(0, n)).buffer;
  }
  write(v: ArrayBuffer | ArrayBufferView): number {
    const b = v instanceof ArrayBuffer ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    this.sock.write(Buffer.from(b));
    return WINDOW;
  }
  close() {
    this.sock.removeAllListeners("close");
    this.sock.destroy();
  }
}
