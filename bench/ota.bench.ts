// OTA over MQTT streams: a 1 MB image over 100 ms RTT (50 ms added each way),
// windowed requests (32 x 4 KB blocks) against one 4 KB block per request
// (FreeRTOS OTA's default), in virtual time on the virtual ESP32 (which runs in
// real time while sockets are busy); and the bytes fetched again after a power
// cut at 50% of the download, against one window.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger, type Cloud } from "../tools/cloud/index.ts";
import { buildApp, type BuiltApp } from "../tools/sim/image.ts";
import { createSigningKey, type SigningKey } from "../tools/ota/signing.ts";
import { createOtaJob, execution, nodeApp, nodeDevice, runUntil, streams, TERMINAL } from "../test/ota/helpers.ts";
import type { BenchResult } from "./run.ts";

const MB = 1024 * 1024;
const BLOCK = 4096;
const WINDOW = 32;

function megabyteImage(): BuiltApp {
  const base = buildApp(nodeApp, { version: "1.1.0" }).bytes.length;
  return buildApp(nodeApp, { version: "1.1.0", config: { pad: "x".repeat(MB - base - 10) } });
}

async function update(cloud: Cloud, key: SigningKey, image: BuiltApp, thing: string, window: number, cutAtBlock?: number) {
  const { device, events } = nodeDevice(cloud, buildApp(nodeApp, { version: "1.0.0" }), thing, key.publicKey, { window, blockSize: BLOCK, requestTimeoutMs: 5000 });
  device.faults.latencyMs = 50;
  let writes = 0;
  if (cutAtBlock !== undefined)
    device.storage.powerCutHook = (point) => point === "flash.write:torn" && ++writes === cutAtBlock;
  try {
    await device.run(500);
    const { jobId, streamId } = await createOtaJob(cloud, thing, image.bytes, "1.1.0", key.keyPem);
    const ok = await runUntil(device, () => TERMINAL.has(execution(cloud, jobId, thing).status), 600_000, 2000);
    const ex = execution(cloud, jobId, thing);
    if (!ok || ex.status !== "SUCCEEDED") throw new Error(`${thing}: update did not succeed: ${JSON.stringify(ex)}`);
    // From the first block request to the switch: the agent downloads into the raw
    // "nextota" partition and opens Update only to switch, so update-open is no start.
    const requested = events.find((e) => e.type === "publish" && String(e.topic).includes("/streams/"));
    const completed = events.find((e) => e.type === "update-complete");
    if (!requested || !completed) throw new Error(`${thing}: no block request or no switch in the trace`);
    return { ms: completed.t - requested.t, stats: streams(cloud).statsFor(thing, streamId) };
  } finally {
    device.storage.powerCutHook = undefined;
    device.shutdown();
  }
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-bench-ota-"));
  const cloud = await startCloud({ dir, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, writeStateFile: false });
  try {
    const key = await createSigningKey();
    const image = megabyteImage();
    const windowed = await update(cloud, key, image, "bench-window", WINDOW);
    const single = await update(cloud, key, image, "bench-single", 1);
    const blocks = Math.ceil(image.bytes.length / BLOCK);
    const cut = await update(cloud, key, image, "bench-cut", WINDOW, Math.floor(blocks / 2));
    return [
      { name: "ota.1MB-100msRTT.windowed", value: windowed.ms, unit: "ms", baseline: single.ms, better: "lower" },
      { name: "ota.1MB-100msRTT.one-block-per-request", value: single.ms, unit: "ms", better: "lower" },
      { name: "ota.1MB-100msRTT.speedup", value: single.ms / windowed.ms, unit: "x", better: "higher" },
      { name: "ota.cut-at-50%.refetched", value: cut.stats.bytes - image.bytes.length, unit: "bytes", baseline: WINDOW * BLOCK, better: "lower" },
    ];
  } finally {
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
