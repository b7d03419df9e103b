// Strict base64 (RFC 4648 §4, padded) for signatures and keys in job documents.
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Decodes padded base64; undefined when the text is not base64 or longer than maxBytes. */
export function base64Decode(text: string, maxBytes: number): Uint8Array | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || (text.length / 4) * 3 > maxBytes + 2) return undefined;
  let pad = 0;
  if (text.endsWith("==")) pad = 2;
  else if (text.endsWith("=")) pad = 1;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let v = 0;
    for (let j = 0; j < 4; j++) {
      const ch = text.charCodeAt(i + j);
      let d: number;
      if (ch === 61 /* = */ && i + 4 === text.length && j >= 4 - pad) d = 0;
      else {
        d = ALPHABET.indexOf(text[i + j]);
        if (d < 0) return undefined;
      }
      v = (v << 6) | d;
    }
    if (o < out.length) out[o++] = (v >> 16) & 0xff;
    if (o < out.length) out[o++] = (v >> 8) & 0xff;
    if (o < out.length) out[o++] = v & 0xff;
  }
  return out.length > maxBytes ? undefined : out;
}
