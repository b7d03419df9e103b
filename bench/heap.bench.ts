// The reference firmware's JS heap during one wake that uplinks over mutual TLS
// (firmware/, board esp-wroom-32, "naive" mode so the first wake connects and
// publishes), against the heap its manifest gives the XS machine on ESP32.
//
// Budget. Neither firmware/manifest.json, manifests/esp-wroom-32.json nor any Moddable
// manifest they include (examples/manifest_base.json, build/devices/esp32/manifest.json,
// modules/io, storage, update, crypt/digest, examples/io/tcp/tlssocket) sets
// creation.chunk, creation.heap or creation.static for esp32, so mcconfig's defaults
// apply ($MODDABLE/tools/mcconfig.js filterCreation): chunk.initial 32768 bytes
// (incremental 1024), heap.initial 2048 slots (incremental 64), stack 384 slots,
// static 0. A slot is 16 bytes on the 32-bit ESP32 (xs/sources/xsAll.h struct sxSlot:
// a pointer, kind/flag/ID in 4 bytes, an 8-byte txValue). With static 0 the heap is
// not one fixed block: xs/platforms/mc/xsHosts.c fxAllocateChunks/fxAllocateSlots
// malloc the initial sizes and grow by the increments while the ESP32's RAM lasts, so
// the initial sizes are the budget a wake should stay within, not a hard cap.
//
// Measure. The XS engine of the sim (xsnap-worker) reports, per delivery, only the
// slots in use (currentHeapCount: garbage since the last collection included) and no
// chunk meter; the engine's own peakHeapCount and peakChunksSize (xs/sources/xsMemory.c)
// are not exposed. So the bench measures at every delivery boundary of the wake: a
// full collection gives the live slots, and a heap snapshot (which collects, then
// writes exactly the live chunks and slots, xs/sources/xsSnapshot.c fxWriteSnapshot)
// the live chunk bytes. The preloaded heap (the engine's state before the wake's first
// delivery: what a Moddable build leaves in flash) is subtracted. Reported:
//   - peak live slots at delivery boundaries, after a full collection: a lower bound
//     of the true peak, which may be higher inside a delivery (its temporaries);
//   - live slots after the first delivery (main's module evaluated and started: a
//     module not preloaded builds its functions, classes and tables in this heap);
//   - peak live chunk bytes at delivery boundaries, as the 64-bit host lays them out:
//     an upper bound of the ESP32's (strings and buffers are the same size, chunk
//     headers and slot tables in chunks are half as large on the chip, and the chip
//     keeps non-preloaded modules' string literals in flash);
//   - the same without the functions' copies of their bytecode (see snapshotHeap): on
//     the chip a function made at run time by a non-preloaded module's code points at
//     its bytecode in flash, but one made by a preloaded module's code copies it into a
//     RAM chunk as in the sim (xsl maps only non-preloaded code to the archive
//     opcodes), so the chip's figure lies between the two.
// Batches of TLS records follow host timing here (the MQTT bench's held deliveries
// do not fit a wake that waits on timers), so these figures can move by a few slots
// and a few hundred bytes from run to run; compute figures are not reported here.
// Preloaded modules: on the chip their objects are in flash and XS keeps a 4-byte RAM
// pointer per object or module variable that may change (the alias table), and copies
// into RAM what a wake does change (documentation/xs/preload.md, "frozen"); the sim
// keeps them in one heap and changes them in place, so neither is in these figures.
// TLS: on the chip, tlssocket runs Moddable's TLS in JavaScript (modules/crypt/ssl,
// session_419.js via tls_419.json): handshake state, certificates and big integers
// live in this same heap. The sim's TLS socket (tools/sim/moddable/tls.ts) does the
// handshake and records in Node, so these figures EXCLUDE Moddable's TLS state: they
// are the firmware's and SDK's own heap beside an open TLS connection.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger } from "../tools/cloud/index.ts";
import { issueDeviceCert } from "../tools/pki/index.ts";
import { buildApp } from "../tools/sim/image.ts";
import { loadBoard } from "../tools/sim/board.ts";
import { parseScenario } from "../tools/sim/scenario.ts";
import { VirtualDevice, type TraceEvent } from "../tools/sim/device.ts";
import type { Meters, XsWorker } from "../tools/sim/xsnap.ts";
import { DEFAULT_SCENARIO } from "../tools/energy/index.ts";
import type { BenchResult } from "./run.ts";

/** mcconfig's defaults for creation on esp32 (tools/mcconfig.js filterCreation); the firmware's manifests override none. */
export const ESP32_CREATION = { chunkInitial: 32768, chunkIncremental: 1024, heapInitial: 2048, heapIncremental: 64, stack: 384, static: 0 };
/** sizeof(txSlot) on the ESP32 (32-bit pointers): next 4 + kind/flag/ID 4 + txValue 8. */
export const ESP32_SLOT_BYTES = 16;

/** sizeof(txSlot) and of txChunk's header in xsnap-worker (64-bit, mx32bitID: xsnapPlatform.h). */
const HOST_SLOT_BYTES = 32;
const HOST_CHUNK_HEADER = 16;
/** xs/sources/xsAll.h: the kind of a function's own copy of its bytecode, in a chunk. */
const XS_CODE_KIND = 19;

/**
 * What a heap snapshot holds (xs/sources/xsSnapshot.c fxWriteSnapshot collects, then writes
 * every live chunk, BLOC, and every live slot, HEAP): live slots, live chunk bytes, and the
 * bytes of the chunks that hold functions' copies of their bytecode. A function created by
 * source-compiled code copies its bytecode into a chunk (xsRun.c XS_CODE_CODE: fxNewChunk,
 * c_memcpy; kind XS_CODE_KIND), as the sim's modules are compiled from source; on the chip
 * xsl turns XS_CODE_CODE into XS_CODE_CODE_ARCHIVE for every module not preloaded
 * ($MODDABLE/xs/tools/xslBase.c fxMapCode, `script->preload == C_NULL`), so functions made
 * by their code point at their bytecode in flash (XS_CODE_X_KIND, no copy); preloaded
 * modules' code keeps XS_CODE_CODE, so a function it makes at run time copies its bytecode
 * into RAM as in the sim (those it made at build time are in flash: xslSlot.c writes them
 * as XS_CODE_X_KIND). xsl maps string literals the same way (XS_CODE_STRING_ARCHIVE).
 */
export function snapshotHeap(file: Uint8Array): { slots: number; chunks: number; codeChunks: number } {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const at: Record<string, [number, number]> = {};
  let o = 8; // size + "XS_M"
  while (o + 8 <= file.length) {
    const size = dv.getUint32(o);
    if (size < 8) break;
    at[String.fromCharCode(...file.subarray(o + 4, o + 8))] = [o + 8, size - 8];
    o += size;
  }
  const [blocAt, blocSize] = at.BLOC ?? [0, 0];
  const [heapAt, heapSize] = at.HEAP ?? [0, 0];
  let codeChunks = 0;
  const seen = new Set<number>();
  for (let p = heapAt; p + HOST_SLOT_BYTES <= heapAt + heapSize; p += HOST_SLOT_BYTES) {
    if (dv.getInt8(p + 8) !== XS_CODE_KIND) continue;
    const data = Number(dv.getBigUint64(p + 16, true)); // projected: offset of the data in BLOC
    if (data < HOST_CHUNK_HEADER || data > blocSize || seen.has(data)) continue;
    seen.add(data);
    codeChunks += dv.getInt32(blocAt + data - HOST_CHUNK_HEADER, true);
  }
  return { slots: heapSize / HOST_SLOT_BYTES, chunks: blocSize, codeChunks };
}

export interface WakeHeap {
  deliveries: number;
  /** Live slots after a full collection, at the boundary where they peaked (preloaded heap subtracted). */
  peakLiveSlots: number;
  /** Live slots after the first delivery (the app's modules instantiated, main started). */
  liveAfterFirst: number;
  /** Live chunk bytes (64-bit host layout) at the boundary where they peaked. */
  peakLiveChunks: number;
  /** The same without functions' bytecode copies (at the boundary where that peaked). */
  peakLiveChunksWithoutCode: number;
  preloadedSlots: number;
  preloadedChunks: number;
}

/**
 * Measures the heap at every delivery boundary of the device's first wake: live slots and
 * chunks (the probe's own collection and snapshot are cranks of their own, outside the
 * app's meters), the state before the first delivery (the preloaded heap) subtracted.
 */
function probeHeap(device: VirtualDevice, dir: string): () => WakeHeap {
  const d = device as unknown as {
    worker?: XsWorker;
    deliver(m: Record<string, unknown>): Promise<unknown>;
    account(m: Meters): void;
  };
  const snapPath = join(dir, "probe.xss");
  const live = async (w: XsWorker) => {
    const slots = (await w.evaluate("gc(); 0")).meters.currentHeapCount;
    await w.writeSnapshot(snapPath);
    const heap = snapshotHeap(readFileSync(snapPath));
    return { slots, chunks: heap.chunks, code: heap.codeChunks };
  };
  let base: { slots: number; chunks: number; code: number } | undefined;
  let firstWorker: XsWorker | undefined;
  const h: WakeHeap = { deliveries: 0, peakLiveSlots: 0, liveAfterFirst: 0, peakLiveChunks: 0, peakLiveChunksWithoutCode: 0, preloadedSlots: 0, preloadedChunks: 0 };
  let allocated: number | undefined;
  const deliver = d.deliver.bind(device);
  const account = d.account.bind(device);
  d.account = (m: Meters) => {
    allocated = m.currentHeapCount; // slots in use at the delivery's end, garbage since the last collection included
    account(m);
  };
  d.deliver = async (m) => {
    const w = d.worker;
    if (!w || (firstWorker && w !== firstWorker)) return deliver(m); // a later wake: not measured
    if (!base) {
      firstWorker = w;
      base = await live(w);
      h.preloadedSlots = base.slots;
      h.preloadedChunks = base.chunks;
    }
    allocated = undefined;
    const r = await deliver(m);
    h.deliveries++;
    // Slots in use at the end of the delivery, garbage included (no collection ran in it).
    if (process.env.BENCH_TRACE) console.log(`delivery ${h.deliveries} ${String(m.type)}: ${allocated !== undefined ? allocated - base.slots : "-"} slots in use at its end (garbage included)`);
    if (d.worker === w) {
      try {
        const now = await live(w);
        if (h.deliveries === 1) h.liveAfterFirst = now.slots - base.slots;
        h.peakLiveSlots = Math.max(h.peakLiveSlots, now.slots - base.slots);
        h.peakLiveChunks = Math.max(h.peakLiveChunks, now.chunks - base.chunks);
        h.peakLiveChunksWithoutCode = Math.max(h.peakLiveChunksWithoutCode, now.chunks - now.code - (base.chunks - base.code));
      } catch {
        // The engine stopped (deep sleep, reset): the wake is over.
      }
    }
    return r;
  };
  return () => ({ ...h });
}

/** The reference firmware's first wake on esp-wroom-32: boot, sample, connect over mutual TLS to a local cloud, uplink, sleep. */
export async function firmwareWake(): Promise<WakeHeap> {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-bench-heap-"));
  const cloud = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
  const thing = "heap-bench";
  let device: VirtualDevice | undefined;
  try {
    const tls = await issueDeviceCert(cloud.pkiDir, thing);
    let uplinked = false;
    let tlsConnected = false;
    const logs: string[] = [];
    device = new VirtualDevice({
      name: thing,
      dir: join(dir, "device"),
      board: loadBoard("esp-wroom-32"),
      image: buildApp(new URL("../firmware", import.meta.url).pathname),
      scenario: parseScenario(DEFAULT_SCENARIO, "<default energy scenario>"),
      quietMs: 50,
      deviceConfig: {
        thing,
        deviceName: thing,
        mode: "naive",
        cloud: { host: "127.0.0.1", port: cloud.ports.mqtt, tlsPort: cloud.ports.mqtts, caPem: cloud.caPem },
        identity: { thingName: thing, certificate: tls.certPem, key: tls.keyPem },
      },
      onTrace: (e: TraceEvent) => {
        if (e.type === "socket-connected" && e.tls) tlsConnected = true;
        if (e.type === "log") {
          logs.push(String(e.text));
          if (/"uplink"/.test(String(e.text)) && /"ok":true/.test(String(e.text))) uplinked = true;
        }
        if (process.env.BENCH_TRACE) console.log(JSON.stringify(e).slice(0, 300));
      },
    });
    const result = probeHeap(device, dir);
    await device.run(5 * 60_000); // one wake, then 15 minutes of deep sleep
    if (!tlsConnected) throw new Error(`the firmware never connected over TLS: ${logs.slice(-3).join(" / ")}`);
    if (!uplinked) throw new Error(`the firmware's wake did not uplink: ${logs.slice(-3).join(" / ")}`);
    return result();
  } finally {
    device?.shutdown();
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same probe on test/sim/apps/hello (a trace and a timer, then deep sleep): the sim's own share of a wake's heap. */
export async function helloWake(): Promise<WakeHeap> {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-bench-heap-"));
  const device = new VirtualDevice({
    name: "hello",
    dir,
    board: loadBoard("esp-wroom-32"),
    image: buildApp(new URL("../test/sim/apps/hello", import.meta.url).pathname),
  });
  try {
    const result = probeHeap(device, dir);
    await device.run(60_000);
    return result();
  } finally {
    device.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult[]> {
  const h = await firmwareWake();
  const hello = await helloWake();
  // The project's own manifests on the firmware's esp32 path must leave creation alone,
  // or the budget below is not the firmware's.
  for (const m of ["manifests/esp-wroom-32.json", "firmware/manifest.json", "sdk/manifest.json", "sdk/native/esp32/manifest.json"]) {
    if (/"creation"\s*:/.test(readFileSync(new URL(`../${m}`, import.meta.url), "utf8"))) throw new Error(`${m} sets creation: ESP32_CREATION no longer gives the firmware's heap budget`);
  }
  const c = ESP32_CREATION;
  const budgetSlots = c.heapInitial;
  console.log(
    `firmware TLS wake (esp-wroom-32, ${h.deliveries} deliveries): budget from the manifest (mcconfig defaults on esp32, none overridden): ` +
      `creation.heap.initial ${c.heapInitial} slots (${c.heapInitial * ESP32_SLOT_BYTES} B at ${ESP32_SLOT_BYTES} B/slot, +${c.heapIncremental} slots per growth), ` +
      `creation.chunk.initial ${c.chunkInitial} B (+${c.chunkIncremental} B per growth), static ${c.static} (no fixed cap: grows while RAM lasts). ` +
      `Preloaded heap (flash on the chip) subtracted: ${h.preloadedSlots} slots, ${h.preloadedChunks} B of chunks. ` +
      `Excludes Moddable's TLS (JavaScript on the chip, in this heap; Node's TLS in the sim) and the chip's RAM aliases of preloaded objects.`,
  );
  return [
    { name: "firmware.tls-wake.peak-live-slots.at-delivery-boundaries", value: h.peakLiveSlots, unit: "slots", baseline: budgetSlots, better: "lower" },
    { name: "firmware.tls-wake.peak-live-slots.at-delivery-boundaries.esp32", value: h.peakLiveSlots * ESP32_SLOT_BYTES, unit: "bytes", baseline: budgetSlots * ESP32_SLOT_BYTES, better: "lower" },
    { name: "firmware.tls-wake.live-slots.after-first-delivery", value: h.liveAfterFirst, unit: "slots", baseline: budgetSlots, better: "lower" },
    // Upper bound of the ESP32's chunks (see above) ...
    { name: "firmware.tls-wake.peak-live-chunks.at-delivery-boundaries.host64", value: h.peakLiveChunks, unit: "bytes", baseline: c.chunkInitial, better: "lower" },
    // ... and without functions' bytecode copies, which only the non-preloaded modules' functions avoid on the chip.
    { name: "firmware.tls-wake.peak-live-chunks.without-bytecode-copies.host64", value: h.peakLiveChunksWithoutCode, unit: "bytes", baseline: c.chunkInitial, better: "lower" },
    // The sim's own share: the same probe on an app that only traces and sleeps.
    { name: "sim.hello-wake.peak-live-slots.at-delivery-boundaries", value: hello.peakLiveSlots, unit: "slots" },
    { name: "sim.hello-wake.peak-live-chunks.at-delivery-boundaries.host64", value: hello.peakLiveChunks, unit: "bytes" },
  ];
}
