// Strict base64 (RFC 4648 §4, padded, canonical) for signatures and keys in job documents,
// and for PEM certificates and keys (sdk/mqtt/tls.ts, at every TLS connection).

// Moddable's XS decodes natively: Uint8Array.fromBase64 (xs/sources/xsDataView.c; on by
// default, xs/sources/xsCommon.h mxUint8ArrayBase64). Called as a method, as XS's own
// static functions construct through their receiver. Other engines use the loop below.
const native = (Uint8Array as unknown as { fromBase64?: (text: string, options: object) => Uint8Array }).fromBase64;
const STRICT = { lastChunkHandling: "strict" };

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** A character's value by its code; made at load (in flash once preloaded). */
const VALUES = new Uint8Array(128);
for (let i = 0; i < 64; i++) VALUES[ALPHABET.charCodeAt(i)] = i;
// Checked whole by the engine's own regular expression (no whitespace, padding only at the
// end), so the loop does no per-character checks: 36 XS units a character, not 96.
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes padded base64; undefined when the text is not canonical base64 or longer than maxBytes. */
export function base64Decode(text: string, maxBytes: number): Uint8Array | undefined {
  const n = text.length;
  if (n === 0 || n % 4 !== 0 || (n / 4) * 3 > maxBytes + 2 || !BASE64.test(text)) return undefined;
  let out: Uint8Array;
  if (native) {
    try {
      out = native.call(Uint8Array, text, STRICT);
    } catch {
      return undefined; // SyntaxError: bits set past the last byte
    }
  } else {
    const pad = text.charCodeAt(n - 1) !== 61 ? 0 : text.charCodeAt(n - 2) !== 61 ? 1 : 2;
    out = new Uint8Array((n / 4) * 3 - pad);
    let o = 0, v = 0;
    for (let i = 0; i < n; i += 4) {
      // "=" (61) maps to 0.
      v = (VALUES[text.charCodeAt(i)] << 18) | (VALUES[text.charCodeAt(i + 1)] << 12) | (VALUES[text.charCodeAt(i + 2)] << 6) | VALUES[text.charCodeAt(i + 3)];
      out[o++] = v >> 16;
      if (o < out.length) out[o++] = v >> 8;
      if (o < out.length) out[o++] = v;
    }
    // Canonical: the bits past the last byte are zero (as XS's strict mode checks).
    if (pad && (v & (pad === 1 ? 0xff : 0xffff))) return undefined;
  }
  return out.length > maxBytes ? undefined : out;
}
