// Strict base64 (RFC 4648 §4, padded) for signatures and keys in job documents,
// and for PEM certificates and keys (sdk/mqtt/tls.ts, at every TLS connection).

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** A character's value by its code; made at load (in flash once preloaded). */
const VALUES = new Uint8Array(128);
for (let i = 0; i < 64; i++) VALUES[ALPHABET.charCodeAt(i)] = i;
// Checked whole by the engine's own regular expression, so the loop below does no
// per-character checks: about 36 XS units a character instead of 96 (a PEM key
// and certificate are 3-4 KB of text, decoded at every TLS connection).
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes padded base64; undefined when the text is not base64 or longer than maxBytes. */
export function base64Decode(text: string, maxBytes: number): Uint8Array | undefined {
  const n = text.length;
  if (n === 0 || n % 4 !== 0 || (n / 4) * 3 > maxBytes + 2 || !BASE64.test(text)) return undefined;
  const pad = text.charCodeAt(n - 1) !== 61 ? 0 : text.charCodeAt(n - 2) !== 61 ? 1 : 2;
  const out = new Uint8Array((n / 4) * 3 - pad);
  if (out.length > maxBytes) return undefined;
  let o = 0;
  for (let i = 0; i < n; i += 4) {
    // "=" (61) maps to 0, as padding bits must.
    const v = (VALUES[text.charCodeAt(i)] << 18) | (VALUES[text.charCodeAt(i + 1)] << 12) | (VALUES[text.charCodeAt(i + 2)] << 6) | VALUES[text.charCodeAt(i + 3)];
    out[o++] = v >> 16;
    if (o < out.length) out[o++] = v >> 8;
    if (o < out.length) out[o++] = v;
  }
  return out;
}
