// Unit tests in Node for the sans-I/O parts: planner, retained state (CRC, recovery), flash queue (eviction counted).
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "../../sdk/storage/crc32.ts";
import { FlashQueue, type ChunkStore } from "../../sdk/storage/queue.ts";
import { RECORD_SIZE, telemetryPayload, encodeReading, decodeReadings, FLAG_THRESHOLD, FLAG_EVENT, FLAG_ALARM, FLAG_BOOT } from "../../sdk/sleep/record.ts";
import { decodeState, encodeState, initialState, RING_CAPACITY, RETAINED_BYTES } from "../../sdk/sleep/state.ts";
import { afterUplink, planWake, sleepMsUntilNext, type WakeInput } from "../../sdk/sleep/plan.ts";
import { applyConfig, DEFAULT_CONFIG } from "../../sdk/sleep/config.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;

class MapStore implements ChunkStore {
  m = new Map<string, Uint8Array>();
  writes = 0;
  read(k: string) {
    const v = this.m.get(k);
    return v ? v.slice() : undefined;
  }
  write(k: string, b: Uint8Array) {
    this.writes++;
    this.m.set(k, b.slice());
  }
  remove(k: string) {
    this.m.delete(k);
  }
}

function recs(from: number, n: number): Uint8Array {
  const out = new Uint8Array(n * RECORD_SIZE);
  for (let i = 0; i < n; i++) encodeReading({ seq: from + i, t: 1000 + i, value: i / 4, batteryMv: 3000, flags: 0 }, out, i * RECORD_SIZE);
  return out;
}
const seqs = (b: Uint8Array) => decodeReadings(b).map((r) => r.seq);

test("crc32 check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

test("reading codec round-trips and clamps", () => {
  const b = encodeReading({ seq: 4_000_000_000, t: 1_767_225_600, value: -12.345, batteryMv: 2999, flags: FLAG_EVENT | FLAG_BOOT });
  assert.deepEqual(decodeReadings(b)[0], { seq: 4_000_000_000, t: 1_767_225_600, value: -12.345, batteryMv: 2999, flags: FLAG_EVENT | FLAG_BOOT });
  const c = decodeReadings(encodeReading({ seq: 1, t: -5, value: NaN, batteryMv: 1e9, flags: 0 }))[0];
  assert.deepEqual([c.t, c.value, c.batteryMv], [0, 0, 65535]);
});

test("queue: append, peek, ack in order, persists across reopen", () => {
  const store = new MapStore();
  const q = new FlashQueue(store, { recordSize: RECORD_SIZE, perChunk: 4, maxChunks: 8 });
  q.append(recs(1, 10));
  assert.equal(q.count, 10);
  assert.deepEqual(seqs(q.peek(3)), [1, 2, 3]);
  assert.equal(q.ackThrough(5), 5);
  const q2 = new FlashQueue(store, { recordSize: RECORD_SIZE, perChunk: 4, maxChunks: 8 });
  assert.equal(q2.count, 5);
  assert.deepEqual(seqs(q2.peek(100)), [6, 7, 8, 9, 10]);
  assert.equal(q2.stats().lastSeq, 10);
  q2.append(recs(11, 1));
  assert.equal(q2.ackThrough(11), 6);
  assert.equal(q2.count, 0);
  assert.deepEqual(seqs(q2.peek(5)), []);
  q2.append(recs(12, 2));
  assert.deepEqual(seqs(new FlashQueue(store, { recordSize: RECORD_SIZE, perChunk: 4, maxChunks: 8 }).peek(9)), [12, 13]);
  // Chunks no longer needed are deleted: the store stays bounded.
  assert.ok(store.m.size <= 3, `store holds ${store.m.size} keys`);
});

test("queue: bounded, oldest-first eviction is counted and persisted", () => {
  const store = new MapStore();
  const q = new FlashQueue(store, { recordSize: RECORD_SIZE, perChunk: 4, maxChunks: 4 });
  for (let s = 1; s <= 40; s += 2) q.append(recs(s, 2));
  const st = q.stats();
  assert.ok(st.count <= q.capacity);
  assert.equal(st.count + st.evicted, 40);
  const left = seqs(q.peek(100));
  assert.equal(left[left.length - 1], 40);
  assert.deepEqual(left, Array.from({ length: left.length }, (_, i) => 41 - left.length + i), "the newest survive, in order");
  const again = new FlashQueue(store, { recordSize: RECORD_SIZE, perChunk: 4, maxChunks: 4 });
  assert.equal(again.stats().evicted, st.evicted);
  assert.ok(store.m.size <= 5);
});

test("queue: a corrupt chunk is dropped and counted, the rest survives", () => {
  const store = new MapStore();
  const q = new FlashQueue(store, { recordSize: RECORD_SIZE, perChunk: 4, maxChunks: 8 });
  q.append(recs(1, 12));
  const key = [...store.m.keys()].filter((k) => k.startsWith("c")).sort()[1];
  store.m.get(key)![9] ^= 0xff;
  const q2 = new FlashQueue(store, { recordSize: RECORD_SIZE, perChunk: 4, maxChunks: 8 });
  assert.equal(q2.stats().corrupted, 4);
  assert.deepEqual(seqs(q2.peek(100)), [1, 2, 3, 4, 9, 10, 11, 12]);
  assert.equal(q2.ackThrough(12), 12);
  assert.equal(q2.count, 0);
  // Corrupt meta: the queue starts empty rather than trusting it.
  store.m.get("m")![5] ^= 1;
  assert.equal(new FlashQueue(store, { recordSize: RECORD_SIZE, perChunk: 4, maxChunks: 8 }).count, 0);
});

test("queue rejects partial records and bad options", () => {
  const q = new FlashQueue(new MapStore(), { recordSize: RECORD_SIZE });
  assert.throws(() => q.append(new Uint8Array(7)), /whole number/);
  assert.throws(() => new FlashQueue(new MapStore(), { recordSize: 2 }), /recordSize/);
  assert.throws(() => new FlashQueue(new MapStore(), { recordSize: 16, perChunk: 1000 }), /perChunk/);
});

test("retained state: round trip, CRC catches any flipped bit, blank/foreign blocks refused", () => {
  const s = initialState(applyConfig(DEFAULT_CONFIG, { high: 30, low: null, mode: "naive" }).config, 77);
  s.ring = recs(70, 5);
  s.clockOffsetMs = -1234;
  const block = encodeState(s);
  assert.ok(block.length <= RETAINED_BYTES);
  const back = decodeState(block)!;
  assert.equal(back.nextSeq, 77);
  assert.equal(back.clockOffsetMs, -1234);
  assert.equal(back.config.high, 30);
  assert.equal(back.config.low, null);
  assert.equal(back.config.mode, "naive");
  assert.deepEqual(seqs(back.ring), [70, 71, 72, 73, 74]);
  // retained() gives 4096 bytes: trailing bytes do not matter.
  const full = new Uint8Array(RETAINED_BYTES);
  full.set(block);
  full[4000] = 0x55;
  assert.ok(decodeState(full));
  for (let i = 0; i < block.length; i += 7) {
    const bad = block.slice();
    bad[i] ^= 1 << i % 8;
    assert.equal(decodeState(bad), undefined, `flip at byte ${i} detected`);
  }
  assert.equal(decodeState(new Uint8Array(RETAINED_BYTES)), undefined);
  assert.equal(decodeState(new Uint8Array(10)), undefined);
  const big = initialState();
  big.ring = recs(1, RING_CAPACITY + 5);
  assert.equal(decodeState(encodeState(big))!.ring.length, RING_CAPACITY * RECORD_SIZE, "ring keeps the newest RING_CAPACITY");
});

test("config: valid keys apply, bad ones are refused one by one", () => {
  const { config, refused } = applyConfig(DEFAULT_CONFIG, { sampleS: 1800, uplinkS: 5, high: "x", batch: 10, mode: "turbo", extra: 1 });
  assert.equal(config.sampleS, 1800);
  assert.equal(config.uplinkS, DEFAULT_CONFIG.uplinkS);
  assert.equal(config.batch, 10);
  assert.deepEqual(refused.sort(), ["high", "mode", "uplinkS"]);
  assert.deepEqual(applyConfig(DEFAULT_CONFIG, { low: 10, high: 5 }).refused, ["low/high"]);
  assert.deepEqual(applyConfig(DEFAULT_CONFIG, [1]).refused, ["<not an object>"]);
});

// ---- planner: drive it like the device would, over virtual days

function drive(opts: { days: number; value?: (t: number) => number; battery?: (t: number) => number; network?: (t: number) => boolean; config?: Record<string, unknown>; gpio?: number[] }) {
  let s = initialState(applyConfig(DEFAULT_CONFIG, opts.config ?? {}).config);
  const queue = new FlashQueue(new MapStore(), { recordSize: RECORD_SIZE, perChunk: 32, maxChunks: 64 });
  let now = 5000;
  let kind: WakeInput["kind"] = "power-on";
  const delivered: number[] = [];
  const uplinks: { t: number; reasons: string[]; ok: boolean }[] = [];
  const sleeps: number[] = [];
  const gpio = [...(opts.gpio ?? [])];
  const end = opts.days * 24 * HOUR;
  while (now < end) {
    const plan = planWake(s, { now, kind, value: opts.value?.(now) ?? 20, batteryMv: opts.battery?.(now) ?? 3000, level: 0, queued: queue.count, capacity: queue.capacity });
    s = plan.state;
    if (plan.spill && s.ring.length) {
      queue.append(s.ring);
      s.ring = new Uint8Array(0);
    }
    if (plan.uplink) {
      const ok = opts.network ? opts.network(now) : true;
      const batch = queue.peek(s.config.maxPerUplink);
      if (ok) {
        delivered.push(...seqs(batch));
        queue.ackThrough(seqs(batch).pop() ?? 0);
      }
      uplinks.push({ t: now, reasons: plan.reasons, ok });
      s = afterUplink(s, { startedAt: now, now: now + 1500, ok, remaining: queue.count, radioMs: 1500, serverTimeMs: ok ? Date.UTC(2026, 0, 1) + now : undefined });
    }
    const sleep = sleepMsUntilNext(s, now + 50);
    sleeps.push(sleep);
    const next = now + 50 + sleep;
    if (gpio.length && gpio[0] < next) {
      now = gpio.shift()!;
      kind = "gpio";
    } else {
      now = next;
      kind = "timer";
    }
  }
  return { s, queue, delivered, uplinks, sleeps };
}

test("planner: 15-minute samples, uplinks every 6 hours, every reading delivered once in order", () => {
  const r = drive({ days: 7 });
  assert.equal(r.s.nextSeq - 1, 7 * 96 + 0, "one reading per 15 minutes");
  assert.ok(r.uplinks.length >= 28 && r.uplinks.length <= 30, `${r.uplinks.length} uplinks`);
  assert.deepEqual(r.uplinks[0].reasons, ["boot"]);
  assert.ok(r.uplinks.slice(1).every((u) => u.reasons.includes("interval")));
  const expected = Array.from({ length: r.delivered.length }, (_, i) => i + 1);
  assert.deepEqual(r.delivered, expected);
  assert.ok(r.queue.count <= 24);
  assert.ok(r.sleeps.every((ms) => ms > 14 * MIN && ms <= 15 * MIN), "the sampling grid holds (no drift from wake latency)");
});

test("planner: a threshold crossing uplinks in the same wake, with hysteresis (no chatter)", () => {
  const r = drive({ days: 1, config: { high: 30, hysteresis: 1 }, value: (t) => (t > 5 * HOUR && t < 6 * HOUR ? 31 + Math.sin(t) * 0.6 : 20) });
  const threshold = r.uplinks.filter((u) => u.reasons.includes("threshold"));
  assert.equal(threshold.length, 2, "one up, one down");
  assert.ok(threshold[0].t > 5 * HOUR && threshold[0].t <= 5 * HOUR + 15 * MIN);
});

test("planner: outage -> exponential backoff, bounded attempts, nothing lost", () => {
  const down = (t: number) => !(t >= 24 * HOUR && t < 36 * HOUR);
  const r = drive({ days: 3, network: down });
  const failed = r.uplinks.filter((u) => !u.ok);
  assert.ok(failed.length >= 3 && failed.length <= 8, `${failed.length} failed attempts in 12 h`);
  for (let i = 2; i < failed.length; i++) assert.ok(failed[i].t - failed[i - 1].t >= failed[i - 1].t - failed[i - 2].t, "gaps grow");
  assert.deepEqual(r.delivered, Array.from({ length: r.delivered.length }, (_, i) => i + 1));
  assert.equal(r.s.failures, 0);
  assert.ok(r.delivered.length >= 3 * 96 - 24);
});

test("planner: GPIO wake is an immediate event uplink and keeps the sampling grid", () => {
  const r = drive({ days: 1, gpio: [3 * HOUR + 7 * MIN] });
  const ev = r.uplinks.find((u) => u.reasons.includes("event"));
  assert.ok(ev && ev.t === 3 * HOUR + 7 * MIN);
  assert.equal(r.s.nextSeq - 1, 96 + 1, "96 samples plus the event");
});

test("planner: low battery stretches intervals, one final alarm", () => {
  const r = drive({ days: 2, battery: (t) => (t > 12 * HOUR ? 2300 : 3000) });
  const alarms = r.uplinks.filter((u) => u.reasons.includes("alarm"));
  assert.equal(alarms.length, 1);
  assert.ok(r.s.lowBattery === 1 && r.s.alarmSent === 1);
  assert.ok(r.sleeps[r.sleeps.length - 1] > 59 * MIN, "sampling stretched x4");
});

test("planner: naive mode uplinks every reading", () => {
  const r = drive({ days: 1, config: { mode: "naive" } });
  assert.equal(r.uplinks.length, 96);
  assert.ok(r.uplinks.every((u) => u.reasons.includes("naive") || u.reasons.includes("boot")));
});

test("planner: flash checkpoint every N readings, batch size triggers early uplink", () => {
  const s0 = initialState(applyConfig(DEFAULT_CONFIG, { checkpointEvery: 3, batch: 5 }).config);
  let s = afterUplink(s0, { startedAt: 0, now: 0, ok: true, remaining: 0, radioMs: 0 });
  const spills: boolean[] = [];
  let queued = 0;
  let batchAt = -1;
  for (let i = 1; i <= 8; i++) {
    const p = planWake(s, { now: i * 15 * MIN, kind: "timer", value: 1, queued, capacity: 1000 });
    s = p.state;
    spills.push(p.spill);
    if (p.reasons.includes("batch") && batchAt < 0) batchAt = i;
    if (p.spill) {
      queued += s.ring.length / RECORD_SIZE;
      s = { ...s, ring: new Uint8Array(0) };
    }
  }
  assert.deepEqual(spills.slice(0, 3), [false, false, true]);
  assert.equal(batchAt, 5);
});

test("planner: clock offset from server time; readings carry corrected time", () => {
  let s = initialState();
  s = afterUplink(s, { startedAt: 0, now: 10_000, ok: true, remaining: 0, radioMs: 900, serverTimeMs: 1_800_000_000_000, serverSeenAt: 9_000 });
  assert.equal(s.clockOffsetMs, 1_800_000_000_000 - 9_000);
  const p = planWake(s, { now: 20_000, kind: "timer", value: 1, queued: 0, capacity: 100 });
  assert.equal(p.reading!.t, Math.floor((1_800_000_000_000 + 11_000) / 1000));
  // Nonsense server times are ignored.
  assert.equal(afterUplink(s, { startedAt: 0, now: 0, ok: true, remaining: 0, radioMs: 0, serverTimeMs: 42 }).clockOffsetMs, s.clockOffsetMs);
});

test("telemetry payload is JSON with sequence numbers and counters", () => {
  const doc = JSON.parse(telemetryPayload(decodeReadings(recs(5, 2)), { evicted: 3 }));
  assert.deepEqual(doc.r.map((r: number[]) => r[0]), [5, 6]);
  assert.equal(doc.evicted, 3);
  assert.ok([FLAG_THRESHOLD, FLAG_ALARM].every((f) => f > 0));
});
