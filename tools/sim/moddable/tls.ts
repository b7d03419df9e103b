// embedded:io/socket/tcp/tls — Moddable examples/io/tcp/tlssocket/tlssocket.js over
// modules/crypt/ssl (session_419.js, ssl_cert.js), mapped and preloaded only by
// examples/io/tcp/tlssocket/manifest.json (which includes modules/io and tls_419.json).
// Followed here: `new TLS({...tcp options, host, TCP: {io: TCP}, secure})`: the TCP
// socket underneath is options.TCP.io, so `address` and `port` are TCP's; `host` is the
// default server name (SNI); `secure` as ssl_cert.js reads it: `certificate` (a trust
// anchor, DER), `clientCertificates` ([DER]), `clientKey` (PKCS#8 DER), `serverName`,
// `applicationLayerProtocolNegotiation`, `verify` (default true). onWritable reports
// 96 bytes less than TCP (tlssocket.js's estimate of TLS overhead); the callbacks run as
// methods of tlssocket's own #callbacks object, so `this` in them is not the socket.
// Host side: Node's TLS does the handshake and records (DER is turned into PEM for it).
import { createPrivateKey } from "node:crypto";
import type { SecureOptions } from "../sockets.ts";
import { XsError } from "./context.ts";

export const xs = String.raw`function (sim) {
  const OVERHEAD = 96;
  const der = (v, what) => {
    if (v === undefined) return new ArrayBuffer(0);
    if (typeof v === "string") throw new TypeError("TLS: " + what + " must be DER bytes (ArrayBuffer or view), not a string");
    return sim.bytes(v);
  };
  class TLSSocket extends sim.TCP {
    constructor(options) {
      if (!options || typeof options !== "object") throw new TypeError("options required");
      if (typeof options.TCP?.io !== "function") throw new TypeError("TLS: options.TCP.io (the TCP class) is required");
      const s = options.secure ?? {};
      const ca = der(s.certificate, "secure.certificate");
      const cert = der(s.clientCertificates?.[0], "secure.clientCertificates[0]");
      const key = der(s.clientKey, "secure.clientKey");
      // tlssocket.js calls the app's callbacks as methods of its own #callbacks object:
      // "this" in them is that object, not the socket.
      const callbacks = { onReadable: options.onReadable, onWritable: options.onWritable, onError: options.onError };
      // session_419.js tests the ALPN key with "in": present but undefined throws in ssl_handshake.js.
      if ("applicationLayerProtocolNegotiation" in s && s.applicationLayerProtocolNegotiation === undefined)
        throw new TypeError("TLS: secure.applicationLayerProtocolNegotiation is present but undefined (ssl_handshake.js throws on it)");
      super(
        {
          ...options,
          onReadable(count) {
            callbacks.onReadable?.(count);
          },
          onWritable(count) {
            if (count > OVERHEAD) callbacks.onWritable?.(count - OVERHEAD);
          },
          onError() {
            callbacks.onError?.();
          },
        },
        {
          options: {
            serverName: s.serverName ?? options.host,
            alpn: s.applicationLayerProtocolNegotiation,
            verify: s.verify ?? true,
            lengths: [ca.byteLength, cert.byteLength, key.byteLength],
          },
          payload: ca.concat(cert, key),
        },
      );
    }
  }
  sim.emulations.tls = () => ({ default: TLSSocket });
}`;

const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").trimEnd()}\n-----END ${label}-----\n`;

/** The host's TLS options from what the app gave tlssocket (DER, as Moddable takes it). */
export function secureOptions(m: { serverName?: string; alpn?: string; verify?: boolean; lengths: number[] }, payload: Uint8Array | undefined): SecureOptions {
  const bytes = payload ?? new Uint8Array(0);
  const [a, b, c] = m.lengths;
  const ca = bytes.subarray(0, a);
  const cert = bytes.subarray(a, a + b);
  const key = bytes.subarray(a + b, a + b + c);
  let keyPem: string | undefined;
  if (key.length) {
    try {
      keyPem = createPrivateKey({ key: Buffer.from(key), format: "der", type: "pkcs8" }).export({ format: "pem", type: "pkcs8" }) as string;
    } catch {
      throw new XsError("TLS: secure.clientKey is not a PKCS#8 DER private key (modules/crypt/etc/pkcs8.js parses only PKCS#8)");
    }
  }
  return {
    ca: ca.length ? pem("CERTIFICATE", ca) : undefined,
    certificate: cert.length ? pem("CERTIFICATE", cert) : undefined,
    key: keyPem,
    serverName: m.serverName,
    alpn: m.alpn,
    verify: m.verify !== false,
  };
}
