// lwIP's receive window on the virtual ESP32 (tools/sim/moddable/tcp.ts): the peer
// cannot send past CONFIG_LWIP_TCP_WND_DEFAULT (8192 on Moddable's esp32 build) until
// the app reads, so no onReadable reports more; and when everything has arrived before
// the app hears of it (deliveries held, as a busy app task would), each delivery is one
// full window, whatever the host's timing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { burstServer, makeDevice } from "./helpers.ts";
import { RECEIVE_WINDOW, type SocketHold } from "../../tools/sim/moddable/tcp.ts";
import type { VirtualDevice } from "../../tools/sim/device.ts";

const BYTES = 20_000;

const counts = (logs: string[]) =>
  logs
    .filter((l) => l.startsWith("got "))
    .flatMap((l) => l.slice(l.indexOf(": ") + 2).split(","))
    .map(Number);

test("no onReadable reports more than lwIP's receive window, and every byte arrives", async () => {
  const srv = await burstServer(BYTES, 1436);
  try {
    const { device, events } = makeDevice("burst", { deviceConfig: { port: srv.port, bytes: BYTES } });
    await device.run(30_000);
    device.shutdown();
    const seen = counts(events.filter((e) => e.type === "log").map((e) => String(e.text)));
    assert.equal(
      seen.reduce((a, b) => a + b, 0),
      BYTES,
    );
    assert.ok(seen.length >= Math.ceil(BYTES / RECEIVE_WINDOW), `at least ${Math.ceil(BYTES / RECEIVE_WINDOW)} deliveries: ${seen}`);
    for (const n of seen) assert.ok(n > 0 && n <= RECEIVE_WINDOW, `onReadable(${n})`);
  } finally {
    srv.close();
  }
});

test("held until everything has arrived, the bytes come in full windows, the same on every run", async () => {
  const srv = await burstServer(BYTES, 1436);
  try {
    const runs: { seen: number[]; compute: number; deliveries: number }[] = [];
    for (let i = 0; i < 2; i++) {
      const { device, events } = makeDevice("burst", { deviceConfig: { port: srv.port, bytes: BYTES } });
      const hold = (device as unknown as { tcp: { hold: SocketHold } }).tcp.hold;
      hold.hold();
      await rounds(device, hold);
      device.shutdown();
      runs.push({ seen: counts(events.filter((e) => e.type === "log").map((e) => String(e.text))), compute: device.meters.compute, deliveries: device.meters.deliveries });
    }
    assert.deepEqual(runs[0].seen, [RECEIVE_WINDOW, RECEIVE_WINDOW, BYTES - 2 * RECEIVE_WINDOW]);
    assert.deepEqual(runs[1], runs[0], "deliveries and compute repeat exactly");
  } finally {
    srv.close();
  }
});

/** The app runs what is due; then, its clock standing, the test waits for the connection and the whole burst, and lets the held deliveries through. */
async function rounds(device: VirtualDevice, hold: SocketHold): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await device.run(device.now + 1);
    if (!device.awake) return; // asleep: the app has read it all
    await hold.until((c) => c.connecting === 0 && c.unsent === 0 && (c.bytesIn === 0 || c.bytesIn >= BYTES));
    hold.release();
  }
  throw new Error("the app did not finish");
}
