// ECMA-419 storage and Moddable's update module with the shapes of Moddable
// SDK 8.2.3's typings ($MODDABLE/typings/embedded/..., named per block). See moddable.d.ts.

// $MODDABLE/typings/embedded/storage/key-value.d.ts (read() returns undefined
// at run time when the key is absent, although the typing does not say so)
declare module "embedded:storage/key-value" {
  export interface StorageOpenOptions {
    format?: StorageFormat;
    path: string;
    mode?: "r" | "r+";
  }
  export type StorageFormat = "buffer" | "string" | "uint8" | "int8" | "uint16" | "int16" | "uint32" | "int32" | "uint64" | "int64";
  export class Storage {
    close(): void;
    delete(key: string): void;
    read(key: string): ArrayBuffer | string | number | bigint;
    read(key: string, buffer: ByteBuffer): number;
    write(key: string, value: ByteBuffer | string | number | bigint): void;
    [Symbol.iterator](): IterableIterator<string>;
    format: StorageFormat;
  }
  const KeyValueStorage: {
    open(options: StorageOpenOptions): Storage;
  };
  export default KeyValueStorage;
}

// $MODDABLE/typings/embedded/storage/flash.d.ts
declare module "embedded:storage/flash" {
  export interface FlashOpenOptions {
    path: string;
    mode?: "r" | "r+";
  }
  export interface FlashStatus {
    size: number;
    blockLength: number;
    blocks: number;
    writeAlign: number;
    eraseValue: number;
  }
  export class Flash {
    close(): void;
    eraseBlock(start: number, end?: number): void;
    read(byteLength: number, byteOffset: number): ArrayBuffer;
    read(buffer: ByteBuffer, byteOffset: number): number;
    write(buffer: ByteBuffer, byteOffset: number): void;
    status(): FlashStatus;
    format: "buffer";
  }
  const FlashStorage: {
    open(options: FlashOpenOptions): Flash;
    [Symbol.iterator](): IterableIterator<string>;
  };
  export default FlashStorage;
}

// $MODDABLE/typings/embedded/update.d.ts
declare module "embedded:update" {
  import type { Flash } from "embedded:storage/flash";
  export interface UpdateOpenOptions {
    partition: Flash;
    mode?: "a" | "w";
    byteLength?: number;
  }
  export interface Updater {
    close(): void;
    complete(): void;
    write(bytes: ByteBuffer): void;
    write(bytes: ByteBuffer, byteOffset: number): void;
    format: "buffer";
  }
  const Update: {
    open(options: UpdateOpenOptions): Updater;
  };
  export default Update;
}
