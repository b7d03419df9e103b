// MQTT 5 reason code names (MQTT 2.4), for error messages. Loaded with the v5
// extension only: a 3.1.1 client never needs them.

// One string of codes and one of names, split only when a message is made: an
// object literal of 43 properties costs XS bytecode per property (and heap when loaded).
const CODES = "\x00\x04\x10\x11\x18\x19\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2";
const TEXT =
  "Success|Disconnect with Will Message|No matching subscribers|No subscription existed|Continue authentication|Re-authenticate|Unspecified error|Malformed Packet|Protocol Error|Implementation specific error|Unsupported Protocol Version|Client Identifier not valid|Bad User Name or Password|Not authorized|Server unavailable|Server busy|Banned|Server shutting down|Bad authentication method|Keep Alive timeout|Session taken over|Topic Filter invalid|Topic Name invalid|Packet Identifier in use|Packet Identifier not found|Receive Maximum exceeded|Topic Alias invalid|Packet too large|Message rate too high|Quota exceeded|Administrative action|Payload format invalid|Retain not supported|QoS not supported|Use another server|Server moved|Shared Subscriptions not supported|Connection rate exceeded|Maximum connect time|Subscription Identifiers not supported|Wildcard Subscriptions not supported";

/** "Not authorized (0x87)" */
export function reasonName(code: number): string {
  const hex = "0x" + (code < 16 ? "0" : "") + code.toString(16);
  const i = CODES.indexOf(String.fromCharCode(code));
  const name = i < 0 ? undefined : TEXT.split("|")[i];
  return name ? `${name} (${hex})` : `reason ${hex}`;
}
