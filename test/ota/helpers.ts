// Shared set-up for OTA tests: one local cloud, a signing key, builds of the
// OTA test node at given versions, and a device runner that steps virtual time
// until a condition holds.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp, type BuiltApp } from "../../tools/sim/image.ts";
import type { VirtualDevice, TraceEvent } from "../../tools/sim/device.ts";
import type { Cloud } from "../../tools/cloud/index.ts";
import type { Execution } from "../../tools/cloud/jobs.ts";
import type { StreamsService } from "../../tools/cloud/streams.ts";
import { makeDevice } from "../sim/helpers.ts";
import { otaDocument } from "../../tools/ota/publish.ts";
import { signImage } from "../../tools/ota/signing.ts";

export const nodeApp = new URL("./apps/node", import.meta.url).pathname;
const builds = new Map<string, BuiltApp>();
export function build(version: string, config: Record<string, unknown> = {}): BuiltApp {
  const k = version + JSON.stringify(config);
  if (!builds.has(k)) builds.set(k, buildApp(nodeApp, { version, config }));
  return builds.get(k)!;
}

export const TERMINAL = new Set(["SUCCEEDED", "FAILED", "REJECTED", "REMOVED", "CANCELED", "TIMED_OUT"]);

export function streams(cloud: Cloud): StreamsService {
  return cloud.service<StreamsService>("streams")!;
}

let seq = 0;
/** Puts the image on a stream and creates the afr_ota job (document tweakable). */
export async function createOtaJob(
  cloud: Cloud,
  thing: string,
  image: Uint8Array,
  version: string,
  keyPem: string,
  opts: { tweak?: (doc: Record<string, any>) => void; streamId?: string; jobId?: string; signWith?: Uint8Array } = {},
): Promise<{ jobId: string; streamId: string }> {
  const n = ++seq;
  const streamId = opts.streamId ?? `s${n}-${thing}`;
  const jobId = opts.jobId ?? `ota${n}-${thing}`;
  if (!streams(cloud).getStream(streamId)) streams(cloud).putStream(streamId, [{ fileId: 1, data: image }]);
  const doc = otaDocument({ streamId, fileId: 1, size: image.length, version, signature: signImage(keyPem, opts.signWith ?? image) }) as Record<string, any>;
  opts.tweak?.(doc);
  if (!cloud.registry.get(thing)) cloud.registry.create(thing);
  await cloud.jobs.createJob({ jobId, targets: [thing], document: doc });
  return { jobId, streamId };
}

export function execution(cloud: Cloud, jobId: string, thing: string): Execution {
  return cloud.jobs.execution(jobId, thing)!;
}

/** Runs the device in slices of virtual time until done() or the virtual deadline. */
export async function runUntil(device: VirtualDevice, done: () => boolean, maxVirtualMs: number, sliceMs = 500): Promise<boolean> {
  const end = device.now + maxVirtualMs;
  while (device.now < end && !device.summary.stoppedBecause) {
    if (done()) return true;
    await device.run(Math.min(end, device.now + sliceMs));
  }
  return done();
}

export function nodeDevice(cloud: Cloud, app: BuiltApp, thing: string, publicKey: string, extra: Record<string, unknown> = {}, opts: { dir?: string; onEvent?: (e: TraceEvent, d: VirtualDevice) => void } = {}) {
  if (!cloud.registry.get(thing)) cloud.registry.create(thing);
  return makeDevice(app, {
    name: thing,
    dir: opts.dir ?? mkdtempSync(join(tmpdir(), "xsiot-ota-")),
    quietMs: 60,
    deviceConfig: { thing, port: cloud.ports.mqtt, publicKey, ...extra },
    onEvent: opts.onEvent,
  });
}

export const logsOf = (events: TraceEvent[]) => events.filter((e) => e.type === "log").map((e) => String(e.text).trimEnd());
export const bootsOf = (events: TraceEvent[]) => events.filter((e) => e.type === "boot").map((e) => `${e.version}@${e.partition}/${e.resetReason}`);
