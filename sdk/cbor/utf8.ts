// CBOR text strings: strict UTF-8 (RFC 3629). The work is in ../text/utf8;
// here its problems become CborError with the byte offset.
import { CborError } from "./error";
import { Utf8Error, utf8Length as length, utf8Decode as decode, utf8Write } from "../text/utf8";

export { utf8Write };

const WHAT: Record<string, string> = {
  truncated: "truncated UTF-8 sequence in text string",
  continuation: "invalid UTF-8 continuation byte in text string",
  overlong: "overlong UTF-8 sequence in text string",
  surrogate: "UTF-8 encodes an invalid code point in text string",
  range: "UTF-8 encodes an invalid code point in text string",
};

/** Bytes needed to encode `s` as UTF-8. A lone surrogate is a CborError. */
export function utf8Length(s: string): number {
  try {
    return length(s);
  } catch (e) {
    if (!(e instanceof Utf8Error)) throw e;
    throw new CborError(`text string has a lone surrogate U+${e.value.toString(16).toUpperCase()} at index ${e.at}`);
  }
}

/** Decodes bytes[start, end) as strict UTF-8. */
export function utf8Decode(bytes: Uint8Array, start: number, end: number): string {
  try {
    return decode(bytes, start, end);
  } catch (e) {
    if (!(e instanceof Utf8Error)) throw e;
    const what = e.problem === "lead" ? `invalid UTF-8 lead byte 0x${e.value.toString(16)} in text string` : (WHAT[e.problem] ?? "invalid UTF-8 in text string");
    throw new CborError(what, e.at);
  }
}
