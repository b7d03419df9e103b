// ECMA-419 I/O module specifiers, shaped as in Moddable's typings/embedded_io.
// Only the members xsiot uses are declared.

declare module "embedded:io/_common" {
  export type PinSpecifier = number;
  export type PortSpecifier = number;
  export type Buffer = ArrayBuffer | ArrayBufferView;
}

declare module "embedded:io/socket/tcp" {
  import type { Buffer } from "embedded:io/_common";
  export type TCPOptions = ({ address: string } | { host: string }) & {
    port: number;
    nodelay?: boolean;
    onReadable?: (this: TCP, bytes: number) => void;
    onWritable?: (this: TCP, bytes: number) => void;
    onError?: (this: TCP, message?: string) => void;
    format?: "number" | "buffer";
    target?: unknown;
  };
  export default class TCP {
    constructor(options: TCPOptions);
    readonly remoteAddress: string | undefined;
    readonly remotePort: number | undefined;
    read(byteLength?: number): ArrayBuffer | undefined;
    /** Returns bytes the socket can accept now (0 when its buffer is full). */
    write(value: Buffer): number;
    close(): void;
    format: "number" | "buffer";
  }
}

declare module "embedded:io/socket/tcp/tls" {
  import TCP, { TCPOptions } from "embedded:io/socket/tcp";
  export type SecureOptions = {
    /** PEM or DER of the CA that signs the server certificate. */
    ca?: string | ArrayBuffer;
    /** Client certificate and key for mutual TLS (PEM or DER). */
    certificate?: string | ArrayBuffer;
    key?: string | ArrayBuffer;
    serverName?: string;
    applicationLayerProtocolNegotiation?: string;
  };
  export type TLSOptions = TCPOptions & { host: string; secure: SecureOptions };
  export default class TLSSocket extends TCP {
    constructor(options: TLSOptions);
  }
}

declare module "embedded:io/analog" {
  import type { PinSpecifier } from "embedded:io/_common";
  export default class Analog {
    constructor(options: { pin: PinSpecifier; resolution?: number; attenuation?: number });
    /** Raw reading, 0 .. 2^resolution - 1. */
    read(): number;
    readonly resolution: number;
    close(): void;
  }
}

declare module "embedded:io/digital" {
  import type { PinSpecifier } from "embedded:io/_common";
  export default class Digital {
    constructor(options: {
      pin: PinSpecifier;
      mode: number;
      edge?: number;
      onReadable?: (this: Digital) => void;
    });
    read(): 0 | 1;
    write(value: 0 | 1): void;
    close(): void;
    static readonly Input: number;
    static readonly InputPullUp: number;
    static readonly InputPullDown: number;
    static readonly InputPullUpDown: number;
    static readonly Output: number;
    static readonly OutputOpenDrain: number;
    static readonly Rising: number;
    static readonly Falling: number;
  }
}

declare module "embedded:io/i2c" {
  import type { Buffer, PinSpecifier } from "embedded:io/_common";
  export default class I2C {
    constructor(options: { data: PinSpecifier; clock: PinSpecifier; hz: number; address: number; port?: number });
    /** Reads byteLength bytes; throws when the device does not acknowledge. */
    read(byteLength: number, stop?: boolean): ArrayBuffer;
    /** Writes bytes; throws when the device does not acknowledge. */
    write(buffer: Buffer, stop?: boolean): void;
    close(): void;
  }
}

declare module "embedded:io/system" {
  export default class System {
    static deepSleep(us: number, mode?: number): void;
    static restart(): never;
    static setTimeout(callback: () => void, ms: number): number;
    static clearTimeout(id: number | undefined): void;
    static setInterval(callback: () => void, ms: number): number;
    static clearInterval(id: number | undefined): void;
  }
}

declare module "embedded:RTC" {
  export default class RTC {
    constructor(options?: object);
    /** Wall-clock milliseconds since the epoch. Settable (clock correction). */
    time: number;
    readonly valid: boolean;
    close(): void;
  }
}
