// The live terminal view of `npm start`: one row per virtual device, built
// from the firmware's JSON-line trace and the simulator's own events.
import type { TraceEvent } from "../sim/device.ts";
import type { EnergyReport } from "../sim/energy.ts";

export interface DeviceRow {
  name: string;
  thing?: string;
  version?: string;
  state: string;
  batteryMv?: number;
  lastReading?: string;
  /** The latest sample as the device took it (virtual epoch ms), sent or not. */
  lastSample?: { t: number; value: number | null; batteryMv?: number };
  readings: number;
  uplinks: number;
  nextWake?: number;
  energy?: EnergyReport;
}

export class FleetView {
  readonly rows = new Map<string, DeviceRow>();
  now = 0;

  row(name: string): DeviceRow {
    let r = this.rows.get(name);
    if (!r) this.rows.set(name, (r = { name, state: "off", readings: 0, uplinks: 0 }));
    return r;
  }

  /** Feeds one simulator trace event (firmware events arrive as "log" lines of JSON). */
  update(e: TraceEvent): void {
    this.now = Math.max(this.now, e.t);
    const r = this.row(e.device);
    switch (e.type) {
      case "boot":
        r.version = String(e.version);
        r.state = "awake";
        r.nextWake = undefined;
        return;
      case "sleep":
        r.state = "deep sleep";
        r.nextWake = typeof e.until === "number" ? e.until : undefined;
        return;
      case "panic":
        r.state = `panic: ${String(e.message).slice(0, 40)}`;
        return;
      case "log": {
        const text = String(e.text);
        if (!text.startsWith('{"xsiot"')) return;
        let ev: Record<string, unknown>;
        try {
          ev = JSON.parse(text);
        } catch {
          return;
        }
        if (ev.ev === "reading") {
          r.readings++;
          if (typeof ev.batteryMv === "number") r.batteryMv = ev.batteryMv;
          if (typeof ev.temperatureC === "number") r.lastReading = `${ev.temperatureC.toFixed(2)} °C`;
          r.lastSample = { t: e.t, value: typeof ev.temperatureC === "number" ? ev.temperatureC : null, batteryMv: typeof ev.batteryMv === "number" ? ev.batteryMv : undefined };
        } else if (ev.ev === "uplink") r.uplinks++;
        else if (ev.ev === "identity" && typeof ev.thing === "string") r.thing = ev.thing;
        else if (ev.ev === "state" && typeof ev.state === "string") r.state = ev.state;
        return;
      }
    }
  }

  render(): string {
    const when = (t?: number) => (t ? new Date(t).toISOString().slice(11, 19) : "-");
    const head = ["device", "thing", "version", "state", "battery", "last reading", "readings", "uplinks", "next wake", "mAh", "years"];
    const lines = [...this.rows.values()].map((r) => [
      r.name,
      r.thing ?? "-",
      r.version ?? "-",
      r.state,
      r.batteryMv ? `${(r.batteryMv / 1000).toFixed(2)} V` : "-",
      r.lastReading ?? "-",
      String(r.readings),
      String(r.uplinks),
      when(r.nextWake),
      r.energy ? r.energy.totalMah.toFixed(3) : "-",
      // A projection needs more than the first (provisioning) hour to mean anything.
      r.energy && r.energy.durationMs >= 6 * 3_600_000 && Number.isFinite(r.energy.projectedYears) ? r.energy.projectedYears.toFixed(1) : "-",
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
    const fmt = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i])).join("  ");
    return [`virtual time ${new Date(this.now).toISOString().replace("T", " ").slice(0, 19)}`, "", fmt(head), fmt(widths.map((w) => "-".repeat(w))), ...lines.map(fmt)].join("\n");
  }
}
