// Rewrites two keys on every boot; a power cut may land anywhere in a write.
// Each value is self-checking: "<n>:<n repeated as padding>".
import KeyValue from "embedded:storage/key-value";
import { deepSleep } from "xsiot/native/esp32";
import { value, parse } from "./lib";

const kv = KeyValue.open({ path: "test", format: "string" });
const a = parse(kv.read("a") as string | undefined);
const b = parse(kv.read("b") as string | undefined);
trace(`read a=${a} b=${b}`);
const next = Math.max(a, b) + 1;
trace(`attempt a=${next}`);
kv.write("a", value(next));
trace(`attempt b=${next}`);
kv.write("b", value(next));
deepSleep({ us: 1_000_000 });
