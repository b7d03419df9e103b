// Long MQTT codec fuzz run: npm run fuzz:mqtt -- [iterations] [seed]
// Iterations default 1,000,000 (split across seeds seed, seed+1, ...); prints the failing seed and input.
import { fuzz } from "../test/mqtt/fuzz.ts";

const iterations = Number(process.argv[2] ?? 1_000_000);
const seed0 = Number(process.argv[3] ?? Date.now() % 1_000_000);
const PER_SEED = 50_000;
const t0 = Date.now();
let done = 0, rejected = 0, decoded = 0;
for (let seed = seed0; done < iterations; seed++) {
  const n = Math.min(PER_SEED, iterations - done);
  try {
    const r = fuzz(seed, n);
    rejected += r.rejected;
    decoded += r.decoded;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
  done += n;
}
process.stdout.write(`fuzz:mqtt ${done} inputs from seed ${seed0}: ${decoded} decoded, ${rejected} rejected with MqttProtocolError, ${Date.now() - t0} ms\n`);
