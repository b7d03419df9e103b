// Fuzz core shared by test/mqtt/fuzz.test.ts and scripts/fuzz-mqtt.ts: mutated
// valid packets and random bytes through the frame reader and the decoder.
// Anything thrown that is not an MqttProtocolError is a failure.
import { encode, decode } from "../../sdk/mqtt/codec.ts";
import { FrameReader } from "../../sdk/mqtt/frame.ts";
import { MqttProtocolError } from "../../sdk/mqtt/error.ts";
import { rng, int, pick, chance, packet, TYPES, type Rng } from "./gen.ts";

const LIMITS = { maxPacketSize: 4096, maxTopicLength: 256, maxProperties: 16 };

export function mutate(r: Rng, b: Uint8Array): Uint8Array {
  let out = Uint8Array.from(b);
  const edits = int(r, 1, 4);
  for (let e = 0; e < edits; e++) {
    const k = int(r, 0, 7);
    if (!out.length) out = new Uint8Array([int(r, 0, 255)]);
    const at = int(r, 0, out.length - 1);
    switch (k) {
      case 0: out[at] ^= 1 << int(r, 0, 7); break; // bit flip
      case 1: out[at] = int(r, 0, 255); break; // byte
      case 2: out = out.slice(0, at); break; // truncate
      case 3: { // insert bytes
        const ins = new Uint8Array(int(r, 1, 8)).map(() => int(r, 0, 255));
        out = Uint8Array.from([...out.subarray(0, at), ...ins, ...out.subarray(at)]);
        break;
      }
      case 4: out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + int(r, 1, 8))]); break; // delete
      case 5: out[0] = (out[0] & 0xf0) | int(r, 0, 15); break; // fixed-header flags
      case 6: if (out.length > 1) out[1] = pick(r, [0, 1, 0x7f, 0x80, 0xff, out[1] + 1, out[1] - 1]) & 0xff; break; // remaining length
      default: out[at] = pick(r, [0, 0xff, 0x80, 0x7f, 0xc0, 0xed, 0xf4, 0xf8]); break; // interesting bytes (UTF-8 edges)
    }
  }
  return out;
}

export interface FuzzResult {
  iterations: number;
  frames: number;
  decoded: number;
  rejected: number;
}

/** Runs `iterations` inputs from `seed`; throws an Error naming the seed and input on any foreign exception. */
export function fuzz(seed: number, iterations: number): FuzzResult {
  const r = rng(seed);
  const res: FuzzResult = { iterations, frames: 0, decoded: 0, rejected: 0 };
  const valid: Uint8Array[] = [];
  for (const v of [4, 5] as const) {
    for (const t of TYPES(v)) for (let i = 0; i < 20; i++) valid.push(encode(packet(r, t, v), v, { ...LIMITS, maxPacketSize: 1 << 20 }));
  }
  for (let i = 0; i < iterations; i++) {
    const v = chance(r, 0.5) ? 5 : 4;
    let input: Uint8Array;
    if (chance(r, 0.8)) {
      // One to three packets back to back, one of them mutated.
      const n = int(r, 1, 3);
      const parts: number[] = [];
      for (let j = 0; j < n; j++) {
        const p = pick(r, valid);
        parts.push(...(j === 0 ? mutate(r, p) : p));
      }
      input = Uint8Array.from(parts);
    } else {
      input = new Uint8Array(int(r, 0, 64)).map(() => int(r, 0, 255));
    }
    try {
      // Frame reader over random chunk splits, then decode each frame.
      const reader = new FrameReader(LIMITS.maxPacketSize);
      let at = 0;
      while (at < input.length) {
        const end = Math.min(input.length, at + int(r, 1, 16));
        const chunk = input.subarray(at, end);
        let k = 0;
        while (k < chunk.length) {
          k = reader.feed(chunk, k);
          const f = reader.take();
          if (f) {
            res.frames++;
            decode(f, v, LIMITS);
            res.decoded++;
          }
        }
        at = end;
      }
      // And the whole input as if it were one frame.
      decode(input, v, LIMITS);
      res.decoded++;
    } catch (e) {
      if (!(e instanceof MqttProtocolError)) {
        throw new Error(`fuzz seed ${seed} iteration ${i} v${v}: ${(e as Error)?.stack ?? e}\ninput ${Buffer.from(input).toString("hex")}`);
      }
      if (typeof e.reasonCode !== "number" || e.reasonCode < 0x80) throw new Error(`fuzz seed ${seed} iteration ${i}: reason code ${e.reasonCode} for ${e.message}`);
      res.rejected++;
    }
  }
  return res;
}
