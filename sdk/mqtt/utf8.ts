// MQTT strings (MQTT 1.5.4): strict UTF-8 without U+0000. The work is in
// ../text/utf8; here its problems become MqttProtocolError 0x81 (Malformed Packet).
import { MqttProtocolError } from "./error";
import { Utf8Error, utf8Length as length, utf8Decode, utf8Write } from "../text/utf8";

export { utf8Write };

// MQTT 5 reason codes the full codec names (here, at the root of its imports: kept out of
// ./error so the clients, which write the numbers, do not load them).
export const MALFORMED = 0x81;
export const PROTOCOL_ERROR = 0x82;
export const TOPIC_NAME_INVALID = 0x90;
export const RECEIVE_MAXIMUM_EXCEEDED = 0x93;
export const TOPIC_ALIAS_INVALID = 0x94;
export const PACKET_TOO_LARGE = 0x95;

const WHAT: Record<string, string> = {
  lead: "invalid lead byte",
  truncated: "truncated sequence",
  continuation: "bad continuation byte",
  overlong: "overlong sequence",
  surrogate: "surrogate code point",
  range: "code point above U+10FFFF",
  nul: "U+0000",
};

function wrap(e: unknown, decoding: boolean): never {
  if (!(e instanceof Utf8Error)) throw e;
  if (!decoding) throw new MqttProtocolError(`string has ${e.problem === "nul" ? "U+0000" : "a lone surrogate"} at index ${e.at}`, MALFORMED);
  const what = e.problem === "lead" && e.value < 0xc2 ? "overlong or stray byte" : WHAT[e.problem];
  throw new MqttProtocolError(`invalid UTF-8: ${what ?? e.problem} at byte ${e.at}`, MALFORMED);
}

/** Bytes `s` takes as UTF-8. Throws on U+0000 or a lone surrogate. */
export function utf8Length(s: string): number {
  try {
    return length(s, true);
  } catch (e) {
    wrap(e, false);
  }
}

/** Decodes bytes [from, to) strictly; throws MqttProtocolError (0x81) on anything invalid. */
export function utf8Read(b: Uint8Array, from: number, to: number): string {
  try {
    return utf8Decode(b, from, to, true);
  } catch (e) {
    wrap(e, true);
  }
}
