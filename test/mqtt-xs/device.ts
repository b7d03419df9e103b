// Runs the MQTT test app (apps/client) on a virtual ESP32 and parses its JSON trace lines.
import { buildApp, type BuiltApp } from "../../tools/sim/image.ts";
import { makeDevice } from "../sim/helpers.ts";
import type { TraceEvent, VirtualDevice } from "../../tools/sim/device.ts";

let built: BuiltApp | undefined;
export function clientApp(): BuiltApp {
  return (built ??= buildApp(new URL("./apps/client", import.meta.url).pathname));
}

export interface AppEvent {
  ev: string;
  t: number;
  [k: string]: any;
}

/** The app's JSON trace lines, with the virtual time of each. */
export function appEvents(events: TraceEvent[]): AppEvent[] {
  const out: AppEvent[] = [];
  for (const e of events) {
    if (e.type !== "log") continue;
    try {
      out.push({ ...JSON.parse(String(e.text)), t: e.t });
    } catch {
      out.push({ ev: "text", text: String(e.text), t: e.t });
    }
  }
  return out;
}

export function startDevice(
  config: Record<string, unknown>,
  onApp?: (e: AppEvent, d: VirtualDevice, raw: TraceEvent) => void,
  onTrace?: (e: TraceEvent, d: VirtualDevice) => void,
  options: { quietMs?: number; dir?: string } = {},
) {
  return makeDevice(clientApp(), {
    // Virtual time jumps once the network has been quiet this long (real ms). The
    // simulator's 25 ms default is shorter than Mosquitto's answer under a loaded
    // 2-core test run now and then, and a jump then fires the client's deadlines
    // (flush, CONNACK, PINGRESP) before the answer lands: 100 ms keeps the tests honest.
    quietMs: 100,
    ...options,
    deviceConfig: config,
    maxPanics: 1,
    onEvent: (e, d) => {
      onTrace?.(e, d);
      if (e.type === "log" && onApp) {
        let parsed: AppEvent;
        try {
          parsed = { ...JSON.parse(String(e.text)), t: e.t };
        } catch {
          return;
        }
        onApp(parsed, d, e);
      }
    },
  });
}

export function panics(events: TraceEvent[]): TraceEvent[] {
  return events.filter((e) => e.type === "panic");
}
