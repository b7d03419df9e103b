// sdk/mqtt side by side with Moddable's own ECMA-419 MQTT client
// ($MODDABLE/examples/io/tcp/mqttclient/mqttclient.js, loaded from the Moddable
// checkout at run time, never copied here), on the same XS engine in the
// virtual ESP32, against the same Mosquitto, through the same work:
//   - connect (MQTT 3.1.1; the SDK also on 5) and subscribe, then the client's live
//     heap (slots, after a full collection) against the heap before it existed;
//   - N QoS 1 publishes of 64 bytes, to the last PUBACK: XS compute per publish;
//   - N messages of 1 KB (QoS 0) from an MQTT.js peer: XS compute per KB.
// Compute comes from the device's meters (tools/sim/device.ts DeviceMeters): the
// XS compute units of every delivery, and the part spent inside the sim's host
// calls (its bridge to Node: a socket write or read, a timer), measured in the
// same run; each figure is given with and without that part, since the chip's
// native calls cost nothing like it.
// Two runs give the same figures: the socket hands the app what has arrived in
// one delivery per batch, as lwIP does (tools/sim/moddable/tcp.ts), and the bench
// holds the batches (SocketHold) until every MQTT request the app wrote has its
// answer on the host socket (or, receiving, until every message has arrived), as
// on a chip whose app task is busy meanwhile. So each delivery holds the same
// bytes whatever the host's timing: one delivery for the 50 PUBACKs, and for the
// 50 KB one per 8 KB receive window (lwIP's TCP_WND on Moddable's esp32 build).
// Ratios are against Moddable's client measured in this run (none without MODDABLE).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildApp } from "../tools/sim/image.ts";
import { loadBoard } from "../tools/sim/board.ts";
import { VirtualDevice, type DeviceMeters } from "../tools/sim/device.ts";
import type { MqttCounts, SocketHold } from "../tools/sim/moddable/tcp.ts";
import type { Meters } from "../tools/sim/xsnap.ts";
import { startMosquitto, peer, skipNoBroker } from "../test/mqtt-xs/broker.ts";
import { bytecode } from "./bytecode.ts";
import type { BenchResult } from "./run.ts";

// Per window: under the SDK client's maxQueued (64), beyond which publish() refuses at once.
const N = 50;
const MIN = 60_000;
const REPO = resolve(new URL("..", import.meta.url).pathname);

interface Figures {
  pub: number;
  pubHost: number;
  rx: number;
  rxHost: number;
  pubSlots: number;
  rxSlots: number;
  idle: number;
  perCall: Record<string, number>;
}

/** The device's socket deliveries, held by the bench (tools/sim/moddable/tcp.ts SocketHold). */
function socketHold(device: VirtualDevice): SocketHold {
  return (device as unknown as { tcp: { hold: SocketHold } }).tcp.hold;
}

/**
 * Runs the device in rounds: in each, the app runs what is due (evaluations, timers,
 * deliveries released) with socket deliveries held; then, the virtual clock standing
 * (as if the app task were busy), the bench waits until every MQTT request the app
 * wrote has its answer on the host socket, its sockets are connected, everything it
 * wrote has left, and `more`
 * holds; then what was held is queued, one delivery per socket. Ends when a round
 * holds nothing.
 */
async function drive(device: VirtualDevice, more: (c: MqttCounts) => boolean = () => true): Promise<void> {
  const hold = socketHold(device);
  for (let round = 0; round < 10_000; round++) {
    await device.run(device.now + 1);
    let counts: MqttCounts | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`bench: no answer on the device's sockets in 30 s of real time (${JSON.stringify(counts)})`)), 30_000);
    });
    try {
      await Promise.race([
        hold.until((c) => {
          counts = c;
          return c.connecting === 0 && c.answers >= c.requests && c.unsent === 0 && more(c);
        }),
        stuck,
      ]);
    } finally {
      clearTimeout(timer);
    }
    const n = hold.release();
    if (process.env.BENCH_TRACE) console.log(`round: released ${n} at ${device.now}`);
    if (n === 0) return;
  }
  throw new Error("bench: the app never stopped exchanging (10,000 rounds)");
}

/** Evaluates in the app while the device runs (evaluations are delivered by the device loop). */
async function evaluate(device: VirtualDevice, code: string): Promise<unknown> {
  const result = device.evaluate(code);
  await drive(device);
  return result;
}

/** Full collection in the worker's global scope (the app compartment has no gc()); returns live slots. */
async function collect(device: VirtualDevice): Promise<number> {
  const w = (device as unknown as { worker: { evaluate(code: string): Promise<{ meters: Meters }> } }).worker;
  return (await w.evaluate("gc(); 0")).meters.currentHeapCount;
}

/** Highest heap count seen in deliveries since the last reset (no GC may run in a window). */
function heapProbe(device: VirtualDevice): { last: number; monotonic: boolean } {
  const probe = { last: 0, monotonic: true };
  const d = device as unknown as { account(m: Meters): void };
  const account = d.account.bind(device);
  d.account = (m: Meters) => {
    if (m.currentHeapCount < probe.last) probe.monotonic = false;
    probe.last = m.currentHeapCount;
    account(m);
  };
  return probe;
}

function snapshot(device: VirtualDevice): DeviceMeters {
  return structuredClone(device.meters);
}

async function measure(appDir: string, version: 4 | 5, port: number, clientId: string): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-bench-mqtt-"));
  const panics: string[] = [];
  const device = new VirtualDevice({
    name: "bench",
    dir,
    board: loadBoard("esp-wroom-32"),
    image: buildApp(appDir),
    deviceConfig: { port, version },
    quietMs: 100,
    onTrace: (e) => {
      if (e.type === "panic") panics.push(`${e.message} at ${e.at}`);
      if (process.env.BENCH_TRACE) console.log(JSON.stringify(e).slice(0, 400));
    },
  });
  const probe = heapProbe(device);
  const hold = socketHold(device);
  hold.hold();
  const js = await peer(port, { protocolVersion: version });
  try {
    await device.run(MIN); // booted, modules loaded, no client yet
    const before = await collect(device);
    await evaluate(device, "bench.start()");
    if (!(await evaluate(device, "bench.subscribed"))) throw new Error(`${clientId}: not subscribed${panics.length ? `: the device panicked: ${panics[0]}` : ""}`);
    const idle = (await collect(device)) - before;

    // N QoS 1 publishes of 64 bytes, to the last PUBACK.
    let start = await collect(device);
    let m0 = snapshot(device);
    probe.last = start;
    probe.monotonic = true;
    hold.hold();
    await evaluate(device, `bench.pub(${N})`);
    let m1 = snapshot(device);
    const pub = (m1.compute - m0.compute) / N;
    const pubHost = (m1.hostCallUnits - m0.hostCallUnits) / N;
    const pubSlots = (probe.last - start) / N;
    if (!probe.monotonic) throw new Error(`${clientId}: a GC ran inside the publish window: slot figures would be wrong`);
    const acked = (await evaluate(device, "bench.acked")) as number;
    if (acked !== N) throw new Error(`${clientId}: only ${acked} of ${N} publishes acknowledged`);

    // N messages of 1 KB in (QoS 0), from MQTT.js through the broker, all on the
    // device's socket before the device hears of them (then one delivery per window).
    start = await collect(device);
    hold.hold();
    const kb = Buffer.alloc(1024, 0x61);
    for (let i = 0; i < N; i++) await js.publishAsync("bench/in", kb, { qos: 0 });
    m0 = snapshot(device);
    probe.last = start;
    probe.monotonic = true;
    await drive(device, (c) => c.publishes >= N);
    m1 = snapshot(device);
    const rx = (m1.compute - m0.compute) / N;
    const rxHost = (m1.hostCallUnits - m0.hostCallUnits) / N;
    const rxSlots = (probe.last - start) / N;
    if (!probe.monotonic) throw new Error(`${clientId}: a GC ran inside the receive window: slot figures would be wrong`);
    const received = (await evaluate(device, "bench.received")) as number;
    if (received !== N) throw new Error(`${clientId}: only ${received} of ${N} messages received`);

    const perCall: Record<string, number> = {};
    for (const [op, v] of Object.entries(device.meters.byOp)) if (v.calls) perCall[op] = v.units / v.calls;
    return { pub, pubHost, rx, rxHost, pubSlots, rxSlots, idle, perCall };
  } finally {
    device.shutdown();
    js.end(true);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An app around Moddable's client, with its module mapped to the file in $MODDABLE. */
function moddableApp(moddable: string): { dir: string; cleanup(): void } | string {
  const client = join(moddable, "examples/io/tcp/mqttclient/mqttclient.js");
  if (!existsSync(client)) return `${client} not found`;
  const dir = mkdtempSync(join(tmpdir(), "xsiot-bench-moddable-"));
  writeFileSync(
    join(dir, "manifest.json"),
    JSON.stringify({
      include: ["$(MODDABLE)/examples/manifest_base.json", "$(MODDABLE)/modules/io/manifest.json"],
      config: { version: "1.0.0" },
      modules: {
        "*": [join(REPO, "bench/apps/moddable/main")],
        "embedded:network/mqtt/client": client.replace(/\.js$/, ""),
      },
    }),
  );
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function results(prefix: string, f: Figures, base?: Figures): BenchResult[] {
  const r = (name: string, value: number, unit: string, b?: number): BenchResult => ({ name: `${prefix}.${name}`, value, unit, baseline: b, better: "lower" });
  return [
    r("publish-qos1-64B.xs-compute", f.pub, "units/msg", base?.pub),
    r("publish-qos1-64B.xs-compute-without-sim-calls", f.pub - f.pubHost, "units/msg", base ? base.pub - base.pubHost : undefined),
    r("publish-qos1-64B.sim-call-units", f.pubHost, "units/msg", base?.pubHost),
    r("publish-qos1-64B.xs-slots", f.pubSlots, "slots/msg", base?.pubSlots),
    r("receive-1KB.xs-compute", f.rx, "units/KB", base?.rx),
    r("receive-1KB.xs-compute-without-sim-calls", f.rx - f.rxHost, "units/KB", base ? base.rx - base.rxHost : undefined),
    r("receive-1KB.sim-call-units", f.rxHost, "units/KB", base?.rxHost),
    r("receive-1KB.xs-slots", f.rxSlots, "slots/msg", base?.rxSlots),
    r("idle-client.heap-slots", f.idle, "slots", base?.idle),
    r("idle-client.heap-bytes-esp32", f.idle * 16, "bytes", base ? base.idle * 16 : undefined),
  ];
}

export async function run(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const moddable = process.env.MODDABLE;
  if (!moddable) console.log("MODDABLE is not set: no side-by-side run of Moddable's client, no ratios against it, no bytecode sizes (set MODDABLE to a Moddable checkout with its Linux tools built)");
  else out.push(...bytecode(moddable));

  if (skipNoBroker) {
    console.log(`mqtt compute skipped: ${skipNoBroker}`);
    return out;
  }
  const broker = await startMosquitto();
  try {
    let base: Figures | undefined;
    if (moddable) {
      const app = moddableApp(moddable);
      if (typeof app === "string") console.log(`Moddable's client not run: ${app}`);
      else {
        try {
          base = await measure(app.dir, 4, broker.port, "moddable-bench");
          out.push(...results("mqtt.moddable-419-client.v4", base));
        } catch (e) {
          console.log(`Moddable's client could not run in the virtual ESP32, so no ratios: ${(e as Error).message}`);
        } finally {
          app.cleanup();
        }
      }
    }
    const sdkApp = join(REPO, "test/mqtt-xs/apps/bench");
    const v4 = await measure(sdkApp, 4, broker.port, "xs-bench-4");
    out.push(...results("mqtt.sdk-client311.v4", v4, base));
    const v5 = await measure(sdkApp, 5, broker.port, "xs-bench-5");
    out.push(...results("mqtt.sdk-client.v5", v5, base));
    // The sim's own cost per host call (its bridge to Node), measured in this run.
    const calls = { ...(base?.perCall ?? {}), ...v4.perCall };
    for (const op of Object.keys(calls).sort()) {
      out.push({ name: `sim.host-call.${op}`, value: calls[op], unit: "units/call" });
    }
  } finally {
    await broker.stop();
  }
  return out;
}
