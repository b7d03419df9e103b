// First boot throws from a nested function in another module; later boots sleep.
import KeyValue from "embedded:storage/key-value";
import { deepSleep, resetReason } from "xsiot/native/esp32";
import { explode } from "./lib";

const kv = KeyValue.open({ path: "test", format: "string" });
const boots = Number(kv.read("boots") ?? "0");
kv.write("boots", String(boots + 1));
trace(`boot ${boots} after ${resetReason()}`);
if (boots === 0) explode("sensor bus stuck");
deepSleep({ us: 3_600_000_000 });
