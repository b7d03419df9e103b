// The firmware's JSON-line trace, as both targets deliver it: each event is
// one line `{"xsiot":1,"ev":"<event>",...}` on the console. A real board also
// prints ROM and boot-loader lines; those are kept as `rom` events when they
// carry a reset reason, and ignored otherwise.

export interface DeviceEvent {
  ev: string;
  /** Arrival time on the host (serial) or virtual time (sim), ms since epoch. */
  at: number;
  [k: string]: unknown;
}

/** ESP32 ROM reset causes ("rst:0x5 (DEEPSLEEP_RESET)") mapped to the SDK's reset reasons. */
const ROM_RESETS: Record<string, string> = {
  POWERON_RESET: "power-on",
  DEEPSLEEP_RESET: "deep-sleep",
  SW_RESET: "software",
  SW_CPU_RESET: "software",
  RTC_SW_CPU_RESET: "software",
  TG0WDT_SYS_RESET: "watchdog",
  TG1WDT_SYS_RESET: "watchdog",
  RTCWDT_SYS_RESET: "watchdog",
  RTCWDT_RTC_RESET: "watchdog",
  TGWDT_CPU_RESET: "watchdog",
  RTCWDT_CPU_RESET: "watchdog",
  RTCWDT_BROWN_OUT_RESET: "brownout",
};

export const MAX_LINE = 16 * 1024;

/** Splits a byte stream into lines and turns the ones that matter into events. */
export class TraceParser {
  private pending = "";
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  /** Lines that looked like JSON events but did not parse (a garbled UART line). */
  garbled = 0;

  constructor(private readonly onEvent: (e: DeviceEvent) => void, private readonly clock: () => number = Date.now) {}

  push(chunk: Uint8Array): void {
    this.pending += this.decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = this.pending.indexOf("\n")) >= 0) {
      this.line(this.pending.slice(0, i).replace(/\r$/, ""));
      this.pending = this.pending.slice(i + 1);
    }
    if (this.pending.length > MAX_LINE) {
      this.garbled++;
      this.pending = ""; // a line this long is noise: drop it rather than grow without bound
    }
  }

  line(text: string): void {
    const rom = /^rst:0x([0-9a-f]+) \((\w+)\)/.exec(text);
    if (rom) {
      this.onEvent({ ev: "rom-reset", at: this.clock(), code: parseInt(rom[1], 16), cause: rom[2], resetReason: ROM_RESETS[rom[2]] ?? "unknown" });
      return;
    }
    const start = text.indexOf('{"xsiot":');
    if (start < 0) return;
    try {
      const value = JSON.parse(text.slice(start)) as Record<string, unknown>;
      if (typeof value.ev !== "string") throw new Error("no ev");
      const { xsiot: _version, ...rest } = value;
      this.onEvent({ at: this.clock(), ...rest, ev: value.ev });
    } catch {
      this.garbled++;
    }
  }
}

/** Formats an event the way the firmware prints it (used by the firmware's trace helper and tests). */
export function formatEvent(ev: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ xsiot: 1, ev, ...fields });
}
