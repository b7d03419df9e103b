// Runs a test app on one virtual ESP32 and collects its trace.
import { mkdtempSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp, type BuiltApp } from "../../tools/sim/image.ts";
import { loadBoard } from "../../tools/sim/board.ts";
import { VirtualDevice, type DeviceOptions, type TraceEvent, type DeviceSummary } from "../../tools/sim/device.ts";

export const appDir = (name: string) => new URL(`./apps/${name}`, import.meta.url).pathname;

const images = new Map<string, BuiltApp>();
export function image(name: string, config?: Record<string, unknown>): BuiltApp {
  const key = name + JSON.stringify(config ?? {});
  if (!images.has(key)) images.set(key, buildApp(appDir(name), { config }));
  return images.get(key)!;
}

export interface SimResult {
  device: VirtualDevice;
  events: TraceEvent[];
  logs: string[];
  summary: DeviceSummary;
}

export function makeDevice(app: string | BuiltApp, options: Partial<DeviceOptions> & { onEvent?: (e: TraceEvent, d: VirtualDevice) => void } = {}) {
  const events: TraceEvent[] = [];
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "xsiot-sim-"));
  // eslint-disable-next-line prefer-const
  let device: VirtualDevice;
  device = new VirtualDevice({
    name: "dut",
    dir,
    board: loadBoard(options.board?.id ?? "esp-wroom-32"),
    image: typeof app === "string" ? image(app) : app,
    ...options,
    onTrace: (e) => {
      events.push(e);
      options.onEvent?.(e, device);
    },
  });
  return { device, events, dir };
}

export async function simulate(app: string | BuiltApp, durationMs: number, options: Parameters<typeof makeDevice>[1] = {}): Promise<SimResult> {
  const { device, events } = makeDevice(app, options);
  try {
    const summary = await device.run(durationMs);
    return { device, events, summary, logs: events.filter((e) => e.type === "log").map((e) => String(e.text)) };
  } finally {
    device.shutdown();
  }
}

/**
 * A server that answers the first bytes it gets with `bytes` bytes in pieces of `piece`,
 * one per turn of the event loop, as the segments of one burst arrive (apps/burst).
 */
export async function burstServer(bytes: number, piece: number): Promise<{ port: number; close(): void }> {
  const peers = new Set<Socket>();
  const s = createServer((sock) => {
    peers.add(sock);
    sock.once("close", () => peers.delete(sock));
    sock.once("data", () => {
      let sent = 0;
      const next = () => {
        const n = Math.min(piece, bytes - sent);
        sock.write(Buffer.alloc(n, sent & 0xff));
        sent += n;
        if (sent < bytes) setImmediate(next);
      };
      next();
    });
  });
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  return {
    port: (s.address() as { port: number }).port,
    close: () => {
      for (const p of peers) p.destroy();
      s.close();
    },
  };
}
