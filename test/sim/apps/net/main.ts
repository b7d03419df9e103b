// Connects to a host server (plain, or mutual TLS through Moddable's tlssocket per mc/config),
// sends a line, traces the echo.
import TCP from "embedded:io/socket/tcp";
import TLS from "embedded:io/socket/tcp/tls";
import config from "mc/config";
import TextEncoder from "text/encoder";
import TextDecoder from "text/decoder";
import { deepSleep } from "xsiot/native/esp32";
import { base64 } from "./lib";

// tls: DER as base64 (ca: the trust anchor; certificate and key: the client's, key in PKCS#8).
const c = config as unknown as { port: number; tls?: { ca: string; certificate?: string; key?: string } };
let received = "";
// The callbacks use the socket they were given, never `this`: Moddable's tlssocket calls
// them as methods of its own callbacks object.
let socket: TCP;
const options = {
  address: "127.0.0.1",
  port: c.port,
  onWritable() {
    if (sent) return;
    sent = true;
    socket.write(new TextEncoder().encode("ping from xs\n"));
  },
  onReadable(count: number) {
    received += new TextDecoder().decode(socket.read(count) as ArrayBuffer); // format "buffer": an ArrayBuffer
    if (received.endsWith("\n")) {
      trace(`echo: ${received.trim()}`);
      socket.close();
      deepSleep({ us: 60_000_000 });
    }
  },
  onError() {
    trace("socket error");
    deepSleep({ us: 60_000_000 });
  },
};
let sent = false;
if (c.tls)
  socket = new TLS({
    ...options,
    host: "127.0.0.1",
    TCP: { io: TCP },
    secure: {
      certificate: base64(c.tls.ca),
      clientCertificates: c.tls.certificate ? [base64(c.tls.certificate)] : undefined,
      clientKey: c.tls.key ? base64(c.tls.key) : undefined,
    },
  } as unknown as ConstructorParameters<typeof TLS>[0]) as unknown as TCP;
else socket = new TCP(options);
