// Uint8Array.fromBase64(string[, { alphabet, lastChunkHandling }]): an XS built-in on every
// Moddable 8.2.3 build (xs/sources/xsCommon.h:99 mxUint8ArrayBase64 defaults to 1;
// xs/sources/xsDataView.c:355 fx_Uint8Array_fromBase64), native on the chip, so the sim
// decodes on the host (its cost lands in the bridge's per-call units, as other natives').
// Semantics of the TC39 proposal as XS implements them: ASCII whitespace (tab, LF, FF, CR,
// space) is skipped; "=" padding ends the input; a partial last chunk is decoded ("loose",
// the default), refused ("strict", which also refuses non-zero padding bits) or left
// ("stop-before-partial"); anything else throws SyntaxError "invalid string".
import { XsError } from "./context.ts";

const STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const WHITESPACE = new Set([0x09, 0x0a, 0x0c, 0x0d, 0x20]);

function invalid(): XsError {
  return new XsError("invalid string", "SyntaxError");
}

export function fromBase64(text: string, alphabet: "base64" | "base64url", last: "loose" | "strict" | "stop-before-partial"): Uint8Array {
  const digits = alphabet === "base64url" ? URL : STD;
  const out: number[] = [];
  let chunk: number[] = [];
  let i = 0;
  const skip = () => {
    while (i < text.length && WHITESPACE.has(text.charCodeAt(i))) i++;
  };
  /** Writes a chunk of 2-4 digits; in strict mode the bits past the last byte must be zero. */
  const flush = (c: number[]) => {
    const v = ((c[0] << 18) | (c[1] << 12) | ((c[2] ?? 0) << 6) | (c[3] ?? 0)) >>> 0;
    const bytes = c.length - 1;
    if (last === "strict" && bytes < 3 && (v & ((1 << (8 * (3 - bytes))) - 1)) !== 0) throw invalid();
    for (let k = 0; k < bytes; k++) out.push((v >> (16 - 8 * k)) & 0xff);
  };
  for (;;) {
    skip();
    if (i >= text.length) {
      if (chunk.length === 0 || last === "stop-before-partial") break;
      if (last === "strict" || chunk.length === 1) throw invalid();
      flush(chunk);
      break;
    }
    const ch = text[i];
    if (ch === "=") {
      if (chunk.length < 2) throw invalid();
      i++;
      skip();
      if (chunk.length === 2) {
        if (i >= text.length) {
          if (last === "stop-before-partial") break;
          throw invalid();
        }
        if (text[i] === "=") {
          i++;
          skip();
        }
      }
      if (i < text.length) throw invalid();
      flush(chunk);
      break;
    }
    const d = digits.indexOf(ch);
    if (d < 0) throw invalid();
    chunk.push(d);
    i++;
    if (chunk.length === 4) {
      flush(chunk);
      chunk = [];
    }
  }
  return Uint8Array.from(out);
}
