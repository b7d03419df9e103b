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
const options = {
  address: "127.0.0.1",
  port: c.port,
  onWritable(this: TCP) {
    if (sent) return;
    sent = true;
    this.write(new TextEncoder().encode("ping from xs\n"));
  },
  onReadable(this: TCP, count: number) {
    received += new TextDecoder().decode(this.read(count) as ArrayBuffer); // format "buffer": an ArrayBuffer
    if (received.endsWith("\n")) {
      trace(`echo: ${received.trim()}`);
      this.close();
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
  new TLS({
    ...options,
    host: "127.0.0.1",
    TCP: { io: TCP },
    secure: {
      certificate: base64(c.tls.ca),
      clientCertificates: c.tls.certificate ? [base64(c.tls.certificate)] : undefined,
      clientKey: c.tls.key ? base64(c.tls.key) : undefined,
    },
  } as unknown as ConstructorParameters<typeof TLS>[0]);
else new TCP(options);
