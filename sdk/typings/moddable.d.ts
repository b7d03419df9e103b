// Moddable's own modules used by xsiot: timer, crypt (Digest), ecdsa.

declare module "timer" {
  export type TimerID = number;
  const Timer: {
    set(callback: (id: TimerID) => void, delay?: number, repeat?: number): TimerID;
    repeat(callback: (id: TimerID) => void, interval: number): TimerID;
    schedule(id: TimerID, delay?: number, repeat?: number): void;
    clear(id: TimerID | undefined): void;
    delay(ms: number): void;
  };
  export default Timer;
}

declare module "crypt" {
  export class Digest {
    constructor(algorithm: "SHA1" | "SHA256" | "SHA512" | "MD5");
    write(data: ArrayBuffer | ArrayBufferView | string): void;
    close(): ArrayBuffer;
    reset(): void;
  }
}

declare module "ecdsa" {
  /**
   * ECDSA verification on P-256. The key is the uncompressed public point
   * (65 bytes, 0x04 || X || Y); the signature is DER (as AWS OTA sends it).
   */
  export default class ECDSA {
    constructor(publicKey: ArrayBuffer, curve: "P-256");
    verify(digest: ArrayBuffer, derSignature: ArrayBuffer): boolean;
  }
}

declare module "mc/config" {
  /** The manifest's "config" section (and, in the virtual ESP32, per-device settings). */
  const config: Record<string, unknown>;
  export default config;
}
