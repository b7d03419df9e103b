// ECMA-419 I/O specifiers with the shapes of Moddable SDK 8.2.3's typings
// ($MODDABLE/typings/embedded_io/*.d.ts, named per block). See moddable.d.ts.

// $MODDABLE/typings/embedded_io/_common.d.ts
declare module "embedded:io/_common" {
  export type PinSpecifier = number;
  export type PortSpecifier = number;
}

// $MODDABLE/typings/embedded_io/system.d.ts. A typings name only: on the device
// System is a global (moddable.d.ts); importing this specifier fails at boot.
declare module "embedded:io/system" {
  import Timer from "timer";
  class System {
    static deepSleep(us: number, mode: number): void;
    static restart(): void;
    static resolve(name: string, callback: (name: string, ip: string) => void): void;
    static setTimeout: typeof Timer.set;
    static clearTimeout: typeof Timer.clear;
    static setInterval: typeof Timer.repeat;
    static clearInterval: typeof Timer.clear;
  }
  export default System;
}

// $MODDABLE/typings/embedded_io/socket/tcp.d.ts
declare module "embedded:io/socket/tcp" {
  export type Options = ((({ address: string } | { host: string }) & { port: number }) | { from: TCP }) & {
    nodelay?: boolean;
    onReadable?: (this: TCP, bytes: number) => void;
    onWritable?: (this: TCP, bytes: number) => void;
    onError?: (this: TCP) => void;
    format?: "number" | "buffer";
    target?: any;
  };
  export default class TCP {
    constructor(options: Options);
    readonly remoteAddress: string | undefined;
    readonly remotePort: number | undefined;
    read(byteLength?: number): number | ArrayBuffer;
    read(buffer: ByteBuffer): void;
    write(value: number | ByteBuffer): void;
    close(): void;
    get format(): "number" | "buffer";
    set format(value: "number" | "buffer");
  }
}

// $MODDABLE/typings/embedded_io/socket/tls.d.ts (the module itself exists only
// through $MODDABLE/examples/io/tcp/tlssocket/manifest.json)
declare module "embedded:io/socket/tcp/tls" {
  import { Options as TCPOptions } from "embedded:io/socket/tcp";
  export type Options = TCPOptions & {
    host: string;
    secure: Record<string, any>;
  };
  export default class TLSSocket {
    constructor(options: Options);
    close(): undefined;
    read(count: number | ArrayBufferLike): undefined | ArrayBufferLike;
    write(buffer: ArrayBufferLike): number;
    set format(format: string);
    get format(): string;
  }
}

// $MODDABLE/typings/embedded_io/analog.d.ts (no close(), no esp32 options in
// the typing; the esp32 implementation has both: modules/io/analog/esp32/)
declare module "embedded:io/analog" {
  import { PinSpecifier } from "embedded:io/_common";
  class Analog {
    constructor(options: { pin: PinSpecifier; resolution?: number; onReadable?: (this: Analog) => void; format?: "number" });
    readonly resolution: number;
    onReadable?: () => void;
    read(): number;
    get format(): "number";
    set format(value: "number");
    target?: any;
  }
  export default Analog;
}

// $MODDABLE/typings/embedded_io/digital.d.ts
declare module "embedded:io/digital" {
  import type { PinSpecifier } from "embedded:io/_common";
  type Edge = number;
  type Mode =
    | typeof Digital.Input
    | typeof Digital.InputPullUp
    | typeof Digital.InputPullDown
    | typeof Digital.InputPullUpDown
    | typeof Digital.Output
    | typeof Digital.OutputOpenDrain
    | typeof Digital.ActiveLow;
  class Digital {
    static readonly Input: number;
    static readonly InputPullUp: number;
    static readonly InputPullDown: number;
    static readonly InputPullUpDown: number;
    static readonly Output: number;
    static readonly OutputOpenDrain: number;
    static readonly ActiveLow: number;
    static readonly Rising: Edge;
    static readonly Falling: Edge;
    constructor(
      options: {
        pin: PinSpecifier;
        mode: Mode;
        activeLow?: boolean;
        initialValue?: 0 | 1;
        format?: "number";
        target?: any;
      } & ({ onReadable: (this: Digital) => void; edge: Edge } | { edge?: Edge }),
    );
    write(value: 0 | 1): void;
    read(): 0 | 1;
    close(): void;
    get format(): "number";
    set format(value: "number");
  }
  export default Digital;
}

// $MODDABLE/typings/embedded_io/i2c.d.ts (no close() in the typing; the esp32
// implementation has it: modules/io/i2c/esp32/)
declare module "embedded:io/i2c" {
  import { PinSpecifier, PortSpecifier } from "embedded:io/_common";
  class I2C {
    constructor(options: { data: PinSpecifier; clock: PinSpecifier; hz: number; address: number; port?: PortSpecifier; format?: "buffer"; target?: any });
    readonly resolution: number;
    write(value: ByteBuffer, stop?: boolean): void;
    read(byteLength: number, stop?: boolean): ArrayBuffer;
    read(buffer: ByteBuffer, stop?: boolean): number;
    get format(): "buffer";
    set format(value: "buffer");
  }
  export default I2C;
}
