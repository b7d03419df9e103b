// One HTTPS POST over an ECMA-419 TLS socket, the way AWS IoT's HTTPS data plane
// takes a publish from a device (POST /topics/<topic>?qos=1 on port 8443, mutual
// TLS): open, write the request, read the status line, close. It exists to
// compare the energy of HTTPS uplinks with MQTT ones (`xsiot energy --modes
// batched,https`); the MQTT path is what the firmware uses.
import TCP from "embedded:io/socket/tcp";
import Timer from "timer";
import { secure, type TlsOptions } from "../mqtt/tls";
import { utf8Length, utf8Write } from "../text/utf8";

/** An ECMA-419 TLS socket class (Moddable: embedded:io/socket/tcp/tls). */
export type TlsSocketClass = new (options: Record<string, unknown>) => {
  read(count?: number): ArrayBuffer | undefined;
  write(data: ArrayBuffer | Uint8Array): unknown;
  close(): void;
};

export interface HttpsTarget {
  host: string;
  port: number;
  socket: TlsSocketClass;
  /** PEM or DER, as the MQTT client's tls option. */
  tls: TlsOptions;
}

const MAX_HEAD = 4096;

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  utf8Write(s, out, 0);
  return out;
}

/** Resolves the HTTP status code; rejects on a socket error, a malformed answer or timeoutMs. */
export function httpsPost(t: HttpsTarget, path: string, contentType: string, body: Uint8Array, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const head = ascii(`POST ${path} HTTP/1.1\r\nHost: ${t.host}\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    const request = new Uint8Array(head.length + body.length);
    request.set(head, 0);
    request.set(body, head.length);
    let sent = 0;
    let answer = "";
    let done = false;
    let sock: InstanceType<TlsSocketClass> | undefined;
    const finish = (error: Error | undefined, status?: number) => {
      if (done) return;
      done = true;
      Timer.clear(timer);
      try {
        sock?.close();
      } catch {
        // already closed
      }
      if (error) reject(error);
      else resolve(status!);
    };
    const timer = Timer.set(() => finish(new Error(`https: no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      // Moddable's TLS socket (examples/io/tcp/tlssocket): over the TCP class given as TCP.io, a dotted
      // address for TCP, and `secure` in DER (sdk/mqtt/tls.ts turns PEM into it).
      sock = new t.socket({
        ...(/^[0-9.]+$/.test(t.host) ? { address: t.host } : {}),
        host: t.host,
        port: t.port,
        format: "buffer",
        TCP: { io: TCP },
        secure: secure(t.tls, t.host),
        onWritable(count: number) {
          if (done || sent >= request.length) return;
          const n = Math.min(count, request.length - sent);
          sock!.write(request.subarray(sent, sent + n));
          sent += n;
        },
        onReadable(count: number) {
          const buf = sock!.read(count);
          if (!buf) return;
          const bytes = new Uint8Array(buf);
          for (let i = 0; i < bytes.length && answer.length < MAX_HEAD; i++) answer += String.fromCharCode(bytes[i]);
          const eol = answer.indexOf("\r\n");
          if (eol < 0) {
            if (answer.length >= MAX_HEAD) finish(new Error("https: status line too long"));
            return;
          }
          const m = /^HTTP\/1\.[01] (\d{3}) /.exec(answer.slice(0, eol + 1));
          if (!m) finish(new Error("https: malformed status line"));
          else finish(undefined, Number(m[1]));
        },
        onError(message?: string) {
          finish(new Error(`https: ${message || "connection failed"}`));
        },
      });
    } catch (e) {
      finish(new Error(`https: cannot open socket to ${t.host}: ${e}`));
    }
  });
}
