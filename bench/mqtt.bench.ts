// sdk/mqtt on the real XS engine in the virtual ESP32, against a real Mosquitto:
// XS compute units and slots allocated per QoS 1 publish of 64 bytes and per
// 1 KB message received, and the client's live XS heap after connect.
//
// Figures come from the XS meters of every delivery in a measured window
// (deterministic compute units; currentHeapCount, which counts slots — 16 bytes
// each on the ESP32, 32 in the 64-bit xsnap worker — and not the chunks that
// hold strings and ArrayBuffer bytes). They include the virtual ESP32's socket
// shim (each write is a synchronous host call from XS), as Moddable's own
// socket would cost its native call on the chip.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../tools/sim/image.ts";
import { loadBoard } from "../tools/sim/board.ts";
import { VirtualDevice } from "../tools/sim/device.ts";
import type { Meters } from "../tools/sim/xsnap.ts";
import { startMosquitto, peer, skipNoBroker } from "../test/mqtt-xs/broker.ts";
import type { BenchResult } from "./run.ts";

// Per window: under the client's maxQueued (64), beyond which publish() rejects at once.
const N = 50;
const MIN = 60_000;

interface Probe {
  compute: number;
  deliveries: number;
  lastHeap: number;
  monotonic: boolean;
}

/** Sums the meters of every delivery (VirtualDevice.account is where each lands). */
function instrument(device: VirtualDevice): Probe {
  const probe: Probe = { compute: 0, deliveries: 0, lastHeap: 0, monotonic: true };
  const d = device as unknown as { account(m: Meters): void };
  const account = d.account.bind(device);
  d.account = (m: Meters) => {
    probe.compute += m.compute;
    probe.deliveries++;
    if (m.currentHeapCount < probe.lastHeap) probe.monotonic = false; // a GC ran inside the window
    probe.lastHeap = m.currentHeapCount;
    account(m);
  };
  return probe;
}

/** Evaluates in the app while the device runs (evaluations are delivered by the device loop). */
async function evaluate(device: VirtualDevice, code: string, until: number): Promise<unknown> {
  const result = device.evaluate(code);
  await device.run(until);
  return result;
}

/** Full collection in the worker's global scope (the app compartment has no gc()); returns live slots. */
async function collect(device: VirtualDevice): Promise<number> {
  const w = (device as unknown as { worker: { evaluate(code: string): Promise<{ meters: Meters }> } }).worker;
  return (await w.evaluate("gc(); 0")).meters.currentHeapCount;
}

async function measure(version: 4 | 5, port: number): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-bench-mqtt-"));
  const device = new VirtualDevice({
    name: "bench",
    dir,
    board: loadBoard("esp-wroom-32"),
    image: buildApp(new URL("../test/mqtt-xs/apps/bench", import.meta.url).pathname),
    deviceConfig: { port, version },
    quietMs: 100,
  });
  const probe = instrument(device);
  const js = await peer(port, { protocolVersion: version });
  let t = 0;
  try {
    await device.run((t += MIN)); // booted, modules loaded, no client yet
    const before = await collect(device);
    await evaluate(device, "bench.start()", (t += MIN)); // connected and subscribed, idle
    const afterConnect = await collect(device);

    // N QoS 1 publishes of 64 bytes, to the last PUBACK.
    const pubStart = await collect(device);
    probe.compute = 0;
    probe.lastHeap = pubStart;
    probe.monotonic = true;
    await evaluate(device, `bench.pub(${N})`, (t += MIN));
    const pubCompute = probe.compute / N;
    const pubSlots = (probe.lastHeap - pubStart) / N;
    const pubMonotonic = probe.monotonic;
    const acked = (await evaluate(device, "bench.acked", t + 1)) as number;
    if (acked !== N) throw new Error(`only ${acked} of ${N} publishes acknowledged`);
    if (!pubMonotonic) throw new Error("a GC ran inside the publish window: slot figures would be wrong");

    // N messages of 1 KB in (QoS 0), from MQTT.js through the broker.
    const rxStart = await collect(device);
    const kb = Buffer.alloc(1024, 0x61);
    for (let i = 0; i < N; i++) await js.publishAsync("bench/in", kb, { qos: 0 });
    await new Promise((r) => setTimeout(r, 200)); // all on the device's socket before virtual time may jump
    probe.compute = 0;
    probe.lastHeap = rxStart;
    probe.monotonic = true;
    await device.run((t += MIN));
    const rxCompute = probe.compute / N;
    const rxSlots = (probe.lastHeap - rxStart) / N;
    const rxMonotonic = probe.monotonic;
    const received = (await evaluate(device, "bench.received", t + 1)) as number;
    if (received !== N) throw new Error(`only ${received} of ${N} messages received`);
    if (!rxMonotonic) throw new Error("a GC ran inside the receive window: slot figures would be wrong");

    const v = `mqtt.v${version}`;
    return [
      { name: `${v}.publish-qos1-64B.xs-compute`, value: pubCompute, unit: "units/msg", better: "lower" },
      { name: `${v}.publish-qos1-64B.xs-slots`, value: pubSlots, unit: "slots/msg", better: "lower" },
      { name: `${v}.receive-1KB.xs-compute`, value: rxCompute, unit: "units/msg", better: "lower" },
      { name: `${v}.receive-1KB.xs-slots`, value: rxSlots, unit: "slots/msg", better: "lower" },
      { name: `${v}.heap-after-connect.client-slots`, value: afterConnect - before, unit: "slots", better: "lower" },
      { name: `${v}.heap-after-connect.client-bytes-esp32`, value: (afterConnect - before) * 16, unit: "bytes", better: "lower" },
      { name: `${v}.heap-after-connect.total-slots`, value: afterConnect, unit: "slots", better: "lower" },
    ];
  } finally {
    device.shutdown();
    js.end(true);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult[]> {
  if (skipNoBroker) {
    console.log(`mqtt bench skipped: ${skipNoBroker}`);
    return [];
  }
  const broker = await startMosquitto();
  try {
    return [...(await measure(4, broker.port)), ...(await measure(5, broker.port))];
  } finally {
    await broker.stop();
  }
}
