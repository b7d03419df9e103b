// sdk/text/utf8.ts on the XS engine, where it uses XS's own ArrayBuffer.fromString and
// String.fromArrayBuffer (when the engine has them) instead of the loops Node runs.
// Cases come from mc/config; one trace line per case: "case <i> <result>".
import config from "mc/config";
import { utf8Decode, utf8Encode, utf8Length, utf8String, Utf8Error } from "xsiot/text/utf8";

const c = config as unknown as { strings: string[]; bad: number[][] };
trace(`engine fromString=${typeof (ArrayBuffer as unknown as { fromString?: unknown }).fromString} fromArrayBuffer=${typeof (String as unknown as { fromArrayBuffer?: unknown }).fromArrayBuffer}\n`);
const hex = (b: Uint8Array) => Array.from(b, (x) => (x < 16 ? "0" : "") + x.toString(16)).join("");
c.strings.forEach((s, i) => {
  try {
    const b = utf8Encode(s);
    const padded = new Uint8Array(b.length + 6);
    padded.set(b, 3);
    const ok = utf8String(b) === s && utf8Decode(padded, 3, 3 + b.length) === s && utf8Length(s) === b.length;
    trace(`string ${i} ${ok ? "ok" : "mismatch"} ${hex(b)}\n`);
  } catch (e) {
    trace(`string ${i} threw ${e instanceof Utf8Error ? e.problem : String(e)}\n`);
  }
});
c.bad.forEach((bytes, i) => {
  try {
    utf8String(Uint8Array.from(bytes));
    trace(`bad ${i} accepted\n`);
  } catch (e) {
    trace(`bad ${i} ${e instanceof Utf8Error ? `${e.problem}@${e.at}` : `other ${String(e)}`}\n`);
  }
});
