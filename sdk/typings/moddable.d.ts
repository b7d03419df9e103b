// Repo-side declarations of the Moddable SDK 8.2.3 modules and globals that
// device code uses, with the shapes of Moddable's own typings (each block names
// the file it matches). tsconfig.json and tsconfig.device.json read these;
// mcconfig's own tsc never does: it reads Moddable's typings (see README, "Use
// the SDK in a Moddable app"). Declare only what Moddable declares: code that
// type-checks here must type-check there (npm run check:moddable proves it).

// $MODDABLE/xs/includes/xs.d.ts
interface ByteBufferTypes extends ArrayBufferTypes {
  Uint8Array: Uint8Array;
  Uint8ClampedArray: Uint8ClampedArray;
  Int8Array: Int8Array;
  DataView: DataView;
}
type ByteBuffer = ByteBufferTypes[keyof ByteBufferTypes];
/** Moddable's debug output (xsbug / serial console). */
declare function trace(...values: unknown[]): void;

// $MODDABLE/typings/global.d.ts (System is set up by the preloaded "system"
// module: $MODDABLE/modules/io/system/system.js on esp32)
declare var System: typeof import("embedded:io/system").default;

// $MODDABLE/typings/timer.d.ts
declare module "timer" {
  export type TimerCallback = (timer: Timer) => void;
  class Timer {
    private constructor();
    static set: (callback: TimerCallback, interval?: number, repeat?: number) => Timer;
    static repeat: (callback: TimerCallback, interval: number) => Timer;
    static schedule: (timer: Timer, interval?: number, repeat?: number) => void;
    static clear: (timer: Timer | undefined | null) => void;
    static delay: (milliseconds: number) => void;
    private brand: boolean;
  }
  export { Timer as default };
}

// $MODDABLE/typings/time.d.ts
declare module "time" {
  var Time: {
    set: (seconds: number) => void;
    timezone: number;
    dst: number;
    ticks: number;
    delta(start: number, end?: number): number;
    readonly microseconds?: number;
  };
  export { Time as default };
}

// $MODDABLE/typings/crypt.d.ts
declare module "crypt" {
  type DigestType = "MD5" | "SHA1" | "SHA224" | "SHA256" | "SHA384" | "SHA512";
  export class Digest {
    constructor(type: DigestType);
    write(message: string | ArrayBuffer): void;
    close(): ArrayBuffer;
    reset(): void;
    get blockSize(): number;
    get outputSize(): number;
    update(message: string | ArrayBuffer): void;
  }
}

// $MODDABLE/typings/mc/config.d.ts
declare module "mc/config" {
  var Config: { file: { root: string } } & Record<string, any>;
  export { Config as default };
}

// TextEncoder and TextDecoder are modules in Moddable, not globals: an app
// includes $MODDABLE/modules/data/text/encoder and decoder manifests to have
// them (the SDK itself uses sdk/text/utf8.ts instead).
// $MODDABLE/typings/text/encoder.d.ts
declare module "text/encoder" {
  interface TextEncoderEncodeIntoResult {
    read: number;
    written: number;
  }
  interface TextEncoder {
    encode(input: string): Uint8Array;
    encodeInto(source: string, destination: Uint8Array): TextEncoderEncodeIntoResult;
  }
  const TextEncoder: {
    prototype: TextEncoder;
    new (): TextEncoder;
  };
  export { TextEncoder as default };
}
// $MODDABLE/typings/text/decoder.d.ts
declare module "text/decoder" {
  interface TextDecoderOptions {
    fatal?: boolean;
    ignoreBOM?: boolean;
  }
  interface TextDecodeOptions {
    stream?: boolean;
  }
  interface TextDecoderCommon {
    readonly encoding: string;
    readonly fatal: boolean;
    readonly ignoreBOM: boolean;
  }
  interface TextDecoder extends TextDecoderCommon {
    decode(input?: Uint8Array | ArrayBufferLike, options?: TextDecodeOptions): string;
  }
  const TextDecoder: {
    prototype: TextDecoder;
    new (label?: "utf-8", options?: TextDecoderOptions): TextDecoder;
  };
  export { TextDecoder as default };
}
