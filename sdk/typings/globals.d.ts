// Globals the XS engine provides on the device (Moddable) and in the virtual ESP32.
// Device code sees only these plus ES2022: no DOM, no Node.

/** Moddable's debug output (xsbug / serial console). */
declare function trace(...values: unknown[]): void;

declare class TextEncoder {
  encode(input?: string): Uint8Array;
  /** Moddable's TextEncoder has it; check before use on other engines. */
  encodeInto?(source: string, destination: Uint8Array): { read: number; written: number };
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: ArrayBuffer | ArrayBufferView, options?: { stream?: boolean }): string;
}
