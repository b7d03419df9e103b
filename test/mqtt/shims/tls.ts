// Host stand-in for embedded:io/socket/tcp/tls over node:tls (client smoke test only).
import tls from "node:tls";
import type net from "node:net";
import TCP from "./tcp.ts";

export default class TLSSocket extends TCP {
  protected open(o: any): net.Socket {
    const s = tls.connect({ host: o.host, port: o.port, ca: o.secure?.ca, cert: o.secure?.certificate, key: o.secure?.key, servername: o.secure?.serverName });
    s.on("secureConnect", () => o.onWritable?.call(this, 64 * 1024));
    return s;
  }
}
