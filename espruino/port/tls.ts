// embedded:io/socket/tcp/tls over Espruino's require("tls").
//
// What it verifies: NOTHING about the server. Espruino sets
// MBEDTLS_SSL_VERIFY_NONE ("FIXME no cert checking!", libs/network/network.c,
// ssl_newSocketData), so `ca` is loaded but a server with any certificate is
// accepted: the link is encrypted, and the device still proves itself to the
// broker with its certificate and key (mutual TLS from the broker's side), but
// the device cannot tell the real broker from an impostor. Do not rely on it
// where a man in the middle matters; the Moddable path verifies the server.
import TCP, { type SocketOptions } from "./tcp";

export default class TLS extends TCP {
  constructor(options: SocketOptions) {
    super(options);
  }
  protected open(options: { host?: string; port: number }, connected: () => void): any {
    const o = (this as unknown as { o: SocketOptions }).o.secure || {};
    return require("tls").connect({ host: options.host, port: options.port, ca: o.ca, cert: o.certificate, key: o.key }, connected);
  }
}
