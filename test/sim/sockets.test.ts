// The sim's host sockets and their faults: a fault may delay or split bytes,
// as a network would, but never reorder them (TCP is a byte stream).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { once } from "node:events";
import { HostSocket, defaultFaults, type SocketEvent } from "../../tools/sim/sockets.ts";
import { burstServer, makeDevice } from "./helpers.ts";

async function sink(): Promise<{ port: number; received: () => string; closed: Promise<void>; stop: () => void }> {
  let text = "";
  let done!: () => void;
  const closed = new Promise<void>((r) => (done = r));
  const peers: Socket[] = [];
  const server = createServer((s) => {
    peers.push(s);
    s.on("data", (d: Buffer) => (text += d.toString("latin1")));
    s.on("end", () => done());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as { port: number }).port,
    received: () => text,
    closed,
    stop: () => {
      for (const p of peers) p.destroy();
      server.close();
    },
  };
}

function open(port: number, faults = defaultFaults()): Promise<HostSocket> {
  return new Promise((resolve, reject) => {
    const s: HostSocket = new HostSocket(1, "127.0.0.1", port, null, faults, (e: SocketEvent) => {
      if (e.kind === "connected") resolve(s);
      else if (e.kind === "error") reject(new Error(e.message));
    });
  });
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

test("split writes keep byte order across back-to-back writes", async () => {
  const peer = await sink();
  try {
    const faults = { ...defaultFaults(), splitWrites: 1 };
    const s = await open(peer.port, faults);
    s.write(bytes("AAAAAA"));
    s.write(bytes("BBBBBB"));
    s.write(bytes("C"));
    s.write(bytes("DDDDDDDDDD"));
    s.close();
    await peer.closed;
    assert.equal(peer.received(), "AAAAAABBBBBBCDDDDDDDDDD");
    assert.equal(s.segments, 23, "each byte left as its own piece");
  } finally {
    peer.stop();
  }
});

test("split writes with added latency keep byte order and still send everything before the FIN", async () => {
  const peer = await sink();
  try {
    const faults = { ...defaultFaults(), splitWrites: 3, latencyMs: 5 };
    const s = await open(peer.port, faults);
    const expected: string[] = [];
    for (let i = 0; i < 20; i++) {
      const chunk = String.fromCharCode(65 + i).repeat(1 + (i % 7));
      expected.push(chunk);
      s.write(bytes(chunk));
    }
    s.close();
    await peer.closed;
    assert.equal(peer.received(), expected.join(""));
  } finally {
    peer.stop();
  }
});

test("a burst the peer writes in pieces reaches the app as one onReadable, and compute repeats exactly run to run", async () => {
  const BYTES = 6000;
  // Five pieces a moment apart, as segments of one burst arrive.
  const server = await burstServer(BYTES, 1200);
  const port = server.port;
  try {
    const runs: { logs: string[]; compute: number; deliveries: number; hostCallUnits: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const { device, events } = makeDevice("burst", { deviceConfig: { port, bytes: BYTES } });
      await device.run(30_000);
      device.shutdown();
      runs.push({ logs: events.filter((e) => e.type === "log").map((e) => String(e.text)), ...device.meters });
    }
    assert.deepEqual(runs[0].logs, [`got ${BYTES} in 1 call: ${BYTES}`]);
    for (const r of runs.slice(1)) {
      assert.deepEqual(r.logs, runs[0].logs);
      assert.equal(r.compute, runs[0].compute, "compute units repeat exactly");
      assert.equal(r.deliveries, runs[0].deliveries);
      assert.equal(r.hostCallUnits, runs[0].hostCallUnits);
    }
    assert.ok(runs[0].hostCallUnits > 0 && runs[0].hostCallUnits < runs[0].compute, "the bridge's share is measured");
  } finally {
    server.close();
  }
});
