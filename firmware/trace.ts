// The firmware's JSON-line trace: one line per event on the console, read by
// the HIL suite from a serial port or from the virtual ESP32 alike.
export function emit(ev: string, fields: Record<string, unknown> = {}): void {
  let line: string;
  try {
    line = JSON.stringify({ xsiot: 1, ev, ...fields });
  } catch {
    line = JSON.stringify({ xsiot: 1, ev, error: "unserialisable fields" });
  }
  trace(line + "\n");
}
