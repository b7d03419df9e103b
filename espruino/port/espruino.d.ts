// The few Espruino globals the port layer uses (see Espruino's src/jswrap_*.c,
// libs/network/jswrap_net.c, libs/filesystem and targets/esp32/jswrap_esp32.c).
declare const E: {
  toUint8Array(s: string | ArrayBuffer | ArrayBufferView): Uint8Array;
  toString(...v: unknown[]): string;
};
declare const global: Record<string, any>;
declare function require(name: string): any;
declare function print(...v: unknown[]): void;
declare function analogRead(pin: unknown): number;
declare function digitalRead(pin: unknown): number;
declare function digitalWrite(pin: unknown, v: number): void;
declare function setWatch(cb: (e: { state: boolean; time: number }) => void, pin: unknown, opts: Record<string, unknown>): number;
declare function clearWatch(id: number): void;
declare const ESP32: {
  deepSleep(us: number): void;
  deepSleepExt0(pin: unknown, level: number): void;
  getWakeupCause(): number;
  getWakeupPin(): unknown;
} | undefined;
declare function atob(s: string): string;
declare function setTimeout(f: () => void, ms: number): number;
declare function clearTimeout(id: number): void;
declare function setInterval(f: () => void, ms: number): number;
