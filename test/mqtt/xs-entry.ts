// Runs inside the real XS engine (xsnap-worker): codec, frame reader and session
// behave there as in Node. Bundled by test/mqtt/xs.test.ts; reports with print().
import { fuzz } from "./fuzz.ts";
import { rng, packet, TYPES } from "./gen.ts";
import { encode, decode } from "../../sdk/mqtt/codec.ts";
import { Session } from "../../sdk/mqtt/session.ts";
import { v5 } from "../../sdk/mqtt/v5.ts";

declare const print: (s: string) => void;

/** Canonical text: sorted keys, undefined and empty property blocks dropped, bytes as arrays. */
function canon(x: unknown): string {
  if (x instanceof Uint8Array) return JSON.stringify(Array.from(x));
  if (Array.isArray(x)) return "[" + x.map(canon).join(",") + "]";
  if (x && typeof x === "object") {
    const o = x as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined && !(k === "properties" && !Object.keys(o[k] as object).length)).sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canon(o[k])).join(",") + "}";
  }
  return JSON.stringify(x);
}

const out: Record<string, unknown> = {};
// 1. Round trips of random packets of every type.
const r = rng(42);
let roundTrips = 0, mismatches = 0;
for (const v of [4, 5] as const) {
  for (const t of TYPES(v)) {
    for (let i = 0; i < 30; i++) {
      const p = packet(r, t, v);
      const back = decode(encode(p, v, { maxPacketSize: 1 << 20, maxTopicLength: 65535, maxProperties: 64 }), v, { maxPacketSize: 1 << 20, maxTopicLength: 65535, maxProperties: 64 });
      roundTrips++;
      if (canon(back) !== canon(p)) {
        mismatches++;
        out.firstMismatch ??= [canon(p), canon(back)];
      }
    }
  }
}
out.roundTrips = roundTrips;
out.mismatches = mismatches;
// 2. Fuzz: only MqttProtocolError.
try {
  out.fuzz = fuzz(5, 5000);
} catch (e) {
  out.fuzzError = String(e);
}
// 3. Session: connect, QoS 1 publish acknowledged.
const sent: number[] = [];
let resolved = false;
const s = new Session({ version: 5, clientId: "xs", keepAlive: 30, clean: true }, {
  send: (b) => { sent.push(b[0] >> 4); },
  timer: () => {},
  up: () => {},
  message: () => {},
  done: (op, error) => { if (op === 7 && !error) resolved = true; },
  down: () => {},
}, v5);
s.open(0);
s.receive(Uint8Array.of(0x20, 3, 0, 0, 0), 1);
s.publish("xs/t", Uint8Array.of(1, 2, 3), 1, false, undefined, 7, 2);
s.receive(Uint8Array.of(0x40, 2, 0, 1), 3);
out.sessionSent = sent;
out.sessionResolved = resolved;
print(JSON.stringify(out));
