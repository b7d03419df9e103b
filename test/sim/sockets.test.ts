// The sim's host sockets and their faults: a fault may delay or split bytes,
// as a network would, but never reorder them (TCP is a byte stream).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { once } from "node:events";
import { HostSocket, defaultFaults, type SocketEvent } from "../../tools/sim/sockets.ts";

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
