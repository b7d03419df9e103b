// Bad input from the server, on XS in the virtual ESP32: a fake MQTT server
// (node:net) answers CONNECT with CONNACK and then one malformed packet per
// connection. The device must close each time with a clear reason, reconnect,
// never panic, and keep its heap bounded across all of them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { once } from "node:events";
import { startDevice, appEvents, panics } from "./device.ts";
import type { VirtualDevice } from "../../tools/sim/device.ts";

const MIN = 60_000;

interface Case {
  name: string;
  bytes: number[];
  /** Junk streamed after the bytes (the body of a packet claiming a huge length). */
  junk?: number;
  /** Close the connection after sending. */
  end?: boolean;
  reason: RegExp;
}

const CASES: Case[] = [
  { name: "remaining length over 4 bytes", bytes: [0x30, 0xff, 0xff, 0xff, 0xff, 0x01], reason: /remaining length/i },
  { name: "reserved flags set (PINGRESP 0xD1)", bytes: [0xd1, 0x00], reason: /flags/i },
  { name: "QoS 1 PUBLISH with packet id 0", bytes: [0x32, 0x06, 0x00, 0x01, 0x74, 0x00, 0x00, 0x78], reason: /packet id/i },
  { name: "invalid UTF-8 in the topic", bytes: [0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x78], reason: /UTF-8/i },
  { name: "unknown packet type 0", bytes: [0x00, 0x00], reason: /type/i },
  { name: "268 MB claimed, 64 KB of junk streamed", bytes: [0x30, 0xff, 0xff, 0xff, 0x7f], junk: 65536, reason: /large|size/i },
  { name: "stream truncated mid-packet", bytes: [0x30, 0x10, 0x00, 0x05, 0x61], end: true, reason: /connection lost/i },
];

/** Live XS heap (slots) after a full collection, between deliveries. */
async function liveHeap(device: VirtualDevice): Promise<number> {
  // The app compartment has no gc(); the worker's global scope does. The device is
  // idle between run() calls, so no delivery is in flight. (A public
  // VirtualDevice.collectGarbage() would be the clean way: tools/sim is not ours.)
  const worker = (device as unknown as { worker: { evaluate(code: string): Promise<{ meters: { currentHeapCount: number } }> } }).worker;
  return (await worker.evaluate("gc(); 0")).meters.currentHeapCount;
}

for (const version of [4, 5] as const) {
  test(`v${version === 4 ? "3.1.1" : "5"}: malformed server packets close the connection with a clear reason; no panic; heap bounded`, async (t0) => {
    const received: Buffer[][] = [];
    const sockets: Socket[] = [];
    const server = createServer((s) => {
      const i = sockets.push(s) - 1;
      const got: Buffer[] = [];
      received[i] = got;
      s.on("error", () => {});
      s.on("data", (d: Buffer) => {
        got.push(d);
        // The device's CONNECT: accept it. The bad packet comes when the test says.
        if (got.length === 1) s.write(Buffer.from(version === 5 ? [0x20, 0x03, 0x00, 0x00, 0x00] : [0x20, 0x02, 0x00, 0x00]));
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    const { device, events } = startDevice({
      port, clientId: `xs-bad${version}`, version, keepAlive: 0,
      reconnect: { minMs: 200, maxMs: 200, jitter: 0 },
      holdMs: 24 * 60 * MIN,
    });
    const heaps: number[] = [];
    let t = 0;
    try {
      for (let i = 0; i <= CASES.length; i++) {
        // Connected and idle (virtual time jumps to the end of the step): sample the live heap.
        await device.run((t += MIN));
        assert.equal(sockets.length, i + 1, `connection ${i} open`);
        heaps.push(await liveHeap(device));
        const c = CASES[i];
        if (!c) break;
        const s = sockets[i];
        s.write(Buffer.from(c.bytes));
        if (c.junk) s.write(Buffer.alloc(c.junk, 0x41));
        if (c.end) s.end();
        // Let the bytes reach the device's socket before virtual time may jump again.
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      device.shutdown();
      for (const s of sockets) s.destroy();
      server.close();
    }
    const app = appEvents(events);
    assert.deepEqual(panics(events), [], "no panic");
    const closes = app.filter((e) => e.ev === "closed");
    // One close per bad case, each with its reason; then it reconnected to the good server.
    assert.equal(closes.length, CASES.length, closes.map((c) => c.error).join("\n"));
    CASES.forEach((c, i) => assert.match(String(closes[i].error), c.reason, `${c.name}: ${closes[i].error}`));
    assert.equal(app.filter((e) => e.ev === "connected").length, CASES.length + 1, "reconnected after every bad packet");
    assert.equal(app.filter((e) => e.ev === "text" && /threw|failed/.test(e.text)).length, 0, "nothing escaped the client");
    if (version === 5) {
      // MQTT 5: a DISCONNECT with the reason code goes out before the close (0x81 malformed, 0x82 protocol error, 0x95 too large).
      for (let i = 0; i < CASES.length - 1; i++) {
        const all = Buffer.concat(received[i]);
        const at = all.lastIndexOf(0xe0);
        assert.ok(at > 0 && [0x81, 0x82, 0x95].includes(all[at + 2]), `${CASES[i].name}: no DISCONNECT with a reason code (${all.toString("hex")})`);
      }
    }
    // Memory stays bounded: after the first failure (one-time costs: error paths
    // compiled, classes touched), the live heap does not grow with more failures,
    // and the 64 KB of junk behind a 268 MB length was never kept.
    t0.diagnostic(`live XS heap (slots) while connected, before each case: ${heaps.join(", ")}`);
    const after = heaps.slice(1);
    assert.ok(Math.max(...after) - after[0] < 64, `live heap (slots) per connection: ${heaps}`);
  });
}
