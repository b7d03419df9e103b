// Boot 1 restarts in software; boot 2 sleeps until GPIO 32 or 33 goes high (ext1);
// boot 3 reports what woke it and sets the clock (Moddable's Time.set; System is a global).
import KeyValue from "embedded:storage/key-value";
import Time from "time";
import { deepSleep, resetReason, wakeCause, wakePin } from "xsiot/native/esp32";

const kv = KeyValue.open({ path: "power", format: "string" });
const boot = Number(kv.read("boot") ?? "0") + 1;
kv.write("boot", String(boot));
trace(`boot ${boot} reset=${resetReason()} wake=${wakeCause()} pin=${wakePin()}`);
if (boot === 1) System.restart();
else if (boot === 2) deepSleep({ ext1: { pins: [32, 33], mode: "any-high" } });
else {
  Time.set(Date.UTC(2030, 0, 1) / 1000);
  trace(`rtc ${new Date().toISOString()}`);
  deepSleep({ us: 3_600_000_000 });
}
