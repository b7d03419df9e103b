// Asks a server for a burst of bytes (written by the server in several pieces) and
// counts how many onReadable calls it took to read them: lwIP tells the app once per
// delivery whatever number of segments arrived, so the count (and the compute) repeat.
import TCP from "embedded:io/socket/tcp";
import config from "mc/config";
import { deepSleep } from "xsiot/native/esp32";

const c = config as unknown as { port: number; bytes: number };
let got = 0;
let calls = 0;
let asked = false;
new TCP({
  address: "127.0.0.1",
  port: c.port,
  onWritable(this: TCP) {
    if (asked) return;
    asked = true;
    this.write(Uint8Array.of(0x3f));
  },
  onReadable(this: TCP, count: number) {
    calls++;
    const bytes = new Uint8Array(this.read(count) as ArrayBuffer);
    let sum = 0;
    for (let i = 0; i < bytes.length; i++) sum = (sum + bytes[i]) & 0xffff;
    got += bytes.length;
    if (got >= c.bytes) {
      trace(`got ${got} in ${calls} call${calls > 1 ? "s" : ""}`);
      this.close();
      deepSleep({ us: 60_000_000 });
    }
  },
  onError() {
    trace("socket error");
  },
});
