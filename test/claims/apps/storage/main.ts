// README claims about the virtual ESP32's flash, exercised from XS through Moddable's
// storage modules: NVS names of at most 15 characters (ESP-IDF NVS_KEY_NAME_MAX_SIZE 16
// with the NUL), and raw flash with NOR semantics (a write only clears bits; an erase
// sets a block back to 0xFF). Each probe's outcome is traced as one JSON line.
import KeyValue from "embedded:storage/key-value";
import Flash from "embedded:storage/flash";

const out = (v: unknown) => trace(JSON.stringify(v) + "\n");
const attempt = (what: string, fn: () => unknown) => {
  try {
    out({ what, ok: true, value: fn() });
  } catch (e) {
    out({ what, ok: false, error: String(e) });
  }
};

const ns15 = "n".repeat(15);
attempt("namespace 15", () => {
  const kv = KeyValue.open({ path: ns15, format: "string" });
  kv.write("k".repeat(15), "fifteen");
  const v = kv.read("k".repeat(15));
  kv.close();
  return v;
});
attempt("namespace 16", () => KeyValue.open({ path: "n".repeat(16), format: "string" }).close());
attempt("key 16", () => {
  const kv = KeyValue.open({ path: ns15, format: "string" });
  try {
    kv.write("k".repeat(16), "sixteen");
  } finally {
    kv.close();
  }
});
attempt("key empty", () => {
  const kv = KeyValue.open({ path: ns15, format: "string" });
  try {
    kv.write("", "empty");
  } finally {
    kv.close();
  }
});

attempt("nor", () => {
  const f = Flash.open({ path: "xsiot" });
  const byte = () => new Uint8Array(f.read(1, 0))[0];
  const steps: number[] = [];
  f.eraseBlock(0);
  steps.push(byte()); // 0xFF after erase
  f.write(Uint8Array.of(0xf0).buffer, 0);
  steps.push(byte()); // 0xF0
  f.write(Uint8Array.of(0x0f).buffer, 0);
  steps.push(byte()); // 0xF0 & 0x0F = 0x00: a write cannot set a bit
  f.write(Uint8Array.of(0xff).buffer, 0);
  steps.push(byte()); // still 0x00
  f.eraseBlock(0);
  steps.push(byte()); // 0xFF again
  const blockLength = f.status().blockLength;
  f.close();
  return { steps, blockLength };
});
