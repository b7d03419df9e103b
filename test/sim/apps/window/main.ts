// Asks a server for a burst of bytes larger than lwIP's receive window and traces
// every onReadable count (test/sim/window.test.ts): no delivery may report more than
// the window, since the peer cannot send past it until the app reads.
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
      trace(`readable ${counts.join(",")}`);
      this.close();
      deepSleep({ us: 60_000_000 });
    }
  },
  onError() {
    trace("socket error");
  },
});
