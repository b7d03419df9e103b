// The serial target: JSON-line trace parsing and the DTR/RTS reset, against a
// recorded-format ESP32 console log and serialport's mock binding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { MockBinding } from "@serialport/binding-mock";
import { SerialPortStream } from "@serialport/stream";
import { TraceParser, type DeviceEvent } from "../../hil-tests/trace.ts";
import { SerialTarget, hardReset, type SerialLike } from "../../hil-tests/targets/serial.ts";

const log = readFileSync(new URL("../../hil-tests/fixtures/esp32-deep-sleep.console.txt", import.meta.url));

test("trace parser: events and ROM resets from a console log, split at every byte boundary", () => {
  const expected: DeviceEvent[] = [];
  new TraceParser((e) => expected.push(e), () => 0).push(log);
  assert.deepEqual(
    expected.map((e) => e.ev),
    ["rom-reset", "boot", "reading", "sleep", "rom-reset", "boot", "reading", "uplink", "sleep"],
  );
  assert.equal(expected[0].resetReason, "power-on");
  assert.equal(expected[4].resetReason, "deep-sleep");
  assert.equal(expected[6].seq, 1);
  for (const size of [1, 2, 3, 7, 64]) {
    const got: DeviceEvent[] = [];
    const p = new TraceParser((e) => got.push(e), () => 0);
    for (let o = 0; o < log.length; o += size) p.push(log.subarray(o, o + size));
    assert.deepEqual(got, expected, `chunks of ${size}`);
    assert.equal(p.garbled, 1, "the line garbled by UART noise is counted, not parsed");
  }
});

test("trace parser: an endless line without newline is dropped, memory stays bounded", () => {
  let n = 0;
  const p = new TraceParser(() => n++, () => 0);
  const junk = new Uint8Array(4096).fill(0x41);
  for (let i = 0; i < 100; i++) p.push(junk);
  p.push(new TextEncoder().encode('\n{"xsiot":1,"ev":"boot"}\n'));
  assert.equal(n, 1);
  assert.ok(p.garbled >= 1);
});

test("hard reset drives EN low through RTS with GPIO0 high, then releases it", async () => {
  const calls: { dtr?: boolean; rts?: boolean; at: number }[] = [];
  const start = Date.now();
  const port: SerialLike = {
    on: () => port,
    set: (o, cb) => {
      calls.push({ ...o, at: Date.now() - start });
      cb(null);
    },
    close: (cb) => cb?.(null),
  };
  await hardReset(port, 50);
  assert.deepEqual(
    calls.map(({ dtr, rts }) => ({ dtr, rts })),
    [
      { dtr: false, rts: true },
      { dtr: false, rts: false },
    ],
  );
  assert.ok(calls[1].at - calls[0].at >= 45, "EN held low long enough to reset");
});

test("serial target over serialport's mock binding: reset on start, events from the wire", async () => {
  const path = "/dev/ttyXSIOT0";
  MockBinding.createPort(path, { echo: false, record: true });
  let stream: SerialPortStream | undefined;
  const sets: unknown[] = [];
  const target = new SerialTarget(path, async (p) => {
    stream = new SerialPortStream({ binding: MockBinding, path: p, baudRate: 115200, autoOpen: false });
    await new Promise<void>((res, rej) => stream!.open((e) => (e ? rej(e) : res())));
    const set = stream.set.bind(stream);
    stream.set = ((o: { dtr?: boolean; rts?: boolean }, cb?: (err: Error | null) => void) => {
      sets.push(o);
      return set(o, cb);
    }) as typeof stream.set;
    return stream as unknown as SerialLike;
  });
  await target.start({ cloud: { host: "127.0.0.1", port: 1 }, settings: {} });
  assert.equal(sets.length, 2);
  await assert.rejects(new SerialTarget("/dev/ttyNOPE", async (p) => {
    const s = new SerialPortStream({ binding: MockBinding, path: p, baudRate: 115200, autoOpen: false });
    await new Promise<void>((res, rej) => s.open((e) => (e ? rej(e) : res())));
    return s as unknown as SerialLike;
  }).start({ cloud: { host: "127.0.0.1", port: 1 }, settings: {} }), /NOPE/);
  const boot = target.waitFor((e) => e.ev === "uplink", 2000, "uplink");
  stream!.port!.emitData(log);
  const uplink = await boot;
  assert.equal(uplink.acked, 2);
  assert.ok(target.events.some((e) => e.ev === "rom-reset" && e.resetReason === "deep-sleep"));
  await assert.rejects(target.waitFor((e) => e.ev === "never", 50, "a never event"), /no a never event within 50 ms/);
  await target.stop();
  MockBinding.reset();
});
