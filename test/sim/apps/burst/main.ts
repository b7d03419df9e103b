// Asks a server for a burst of bytes (written by the server in several pieces) and
// traces the count of every onReadable it took to read them: lwIP tells the app once
// per delivery whatever arrived, never past its receive window (test/sim/sockets.test.ts,
// test/sim/window.test.ts).
import TCP from "embedded:io/socket/tcp";
import config from "mc/config";
import { deepSleep } from "xsiot/native/esp32";

const c = config as unknown as { port: number; bytes: number };
let got = 0;
let asked = false;
const counts: number[] = [];
new TCP({
  address: "127.0.0.1",
  port: c.port,
  onWritable(this: TCP) {
    if (asked) return;
    asked = true;
    this.write(Uint8Array.of(0x3f));
  },
  onReadable(this: TCP, count: number) {
    counts.push(count);
    got += (this.read(count) as ArrayBuffer).byteLength;
    if (got >= c.bytes) {
      trace(`got ${got} in ${counts.length} call${counts.length > 1 ? "s" : ""}: ${counts.join(",")}`);
      this.close();
      deepSleep({ us: 60_000_000 });
    }
  },
  onError() {
    trace("socket error");
  },
});
