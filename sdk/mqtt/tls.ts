import { base64Decode } from "../ota/base64";

// The client's `tls` option ({ ca, certificate, key } as PEM text or DER bytes)
// as the `secure` object Moddable's TLS socket takes: examples/io/tcp/tlssocket/
// tlssocket.js hands it to modules/crypt/ssl, which reads `certificate` (the
// trust anchor, DER), `clientCertificates` ([DER]), `clientKey` (PKCS#8 DER),
// `serverName` (SNI) and `applicationLayerProtocolNegotiation`.
// Loaded by the full client (./client); ./client311 passes `tls` through as is.

export interface TlsOptions {
  ca?: string | ArrayBuffer;
  certificate?: string | ArrayBuffer;
  key?: string | ArrayBuffer;
  serverName?: string;
  alpn?: string;
}

function der(v: string | ArrayBuffer | undefined, what: string): ArrayBuffer | undefined {
  if (v === undefined || typeof v !== "string") return v;
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]+)-----END /.exec(v);
  if (!m) throw new Error(`mqtt: tls.${what} is neither PEM nor DER`);
  if (m[1].indexOf("PRIVATE KEY") > 0) throw new Error(`mqtt: tls.${what}: Moddable's TLS takes a PKCS#8 key ("PRIVATE KEY"), not "${m[1]}"`);
  const b = base64Decode(m[2].replace(/\s+/g, ""), 16384);
  if (!b) throw new Error(`mqtt: tls.${what}: bad base64`);
  return b.buffer as ArrayBuffer;
}

export function secure(tls: TlsOptions, host: string): object {
  const cert = der(tls.certificate, "certificate");
  // Only keys that have a value: Moddable's session tests options with `in`
  // (modules/crypt/ssl/session_419.js), and an ALPN key holding undefined throws in the handshake.
  const out: Record<string, unknown> = { serverName: tls.serverName || host };
  const ca = der(tls.ca, "ca");
  if (ca) out.certificate = ca;
  if (cert) out.clientCertificates = [cert];
  const key = der(tls.key, "key");
  if (key) out.clientKey = key;
  if (tls.alpn) out.applicationLayerProtocolNegotiation = tls.alpn;
  return out;
}
