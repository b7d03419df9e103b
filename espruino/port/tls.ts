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

/**
 * Espruino hands ca/cert/key to mbedTLS as they are, without the NUL that PEM
 * parsing needs (a short string is taken as a file name instead): give it DER,
 * as a binary string. PEM text is decoded here; DER (ArrayBuffer, view) is passed as bytes.
 */
export function der(v: string | ArrayBuffer | ArrayBufferView | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") return E.toString(v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  const begin = v.indexOf("-----BEGIN");
  if (begin < 0) return v;
  const start = v.indexOf("\n", begin);
  const end = v.indexOf("-----END", start);
  if (start < 0 || end < 0) throw new Error("tls: malformed PEM");
  return atob(v.substring(start + 1, end).replace(/[\r\n ]/g, ""));
}

export default class TLS extends TCP {
  constructor(options: SocketOptions) {
    super(options);
  }
  protected open(options: { host?: string; port: number }, connected: () => void): any {
    const o = (this as unknown as { o: SocketOptions }).o.secure || {};
    return require("tls").connect({ host: options.host, port: options.port, ca: der(o.ca), cert: der(o.certificate), key: der(o.key) }, connected);
  }
}
