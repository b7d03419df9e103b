// ECMA-419 storage specifiers and Moddable's update (OTA) module.

declare module "embedded:storage/key-value" {
  export type KeyValueFormat = "string" | "buffer";
  export interface KeyValueStore {
    /** Returns undefined when the key is absent. */
    read(key: string): string | ArrayBuffer | undefined;
    write(key: string, value: string | ArrayBuffer | ArrayBufferView): void;
    delete(key: string): void;
    close(): void;
  }
  const KeyValue: {
    open(options: { path: string; format?: KeyValueFormat }): KeyValueStore;
  };
  export default KeyValue;
}

declare module "embedded:storage/flash" {
  export interface FlashPartition {
    read(byteLength: number, byteOffset: number): ArrayBuffer;
    write(buffer: ArrayBuffer | ArrayBufferView, byteOffset: number): void;
    eraseBlock(block: number): void;
    status(): { size: number; blockLength: number };
    close(): void;
  }
  const Flash: {
    open(options: { path: string }): FlashPartition;
  };
  export default Flash;
}

declare module "embedded:update" {
  /**
   * Writes a new application image to the inactive OTA partition.
   * complete() makes it the boot partition (in pending-verify state); nothing
   * changes for the running image until restart.
   */
  export interface UpdateSession {
    readonly partition: string;
    write(bytes: ArrayBuffer | ArrayBufferView, byteOffset?: number): void;
    /** Reads back what was written (to hash or resume). */
    read(byteLength: number, byteOffset: number): ArrayBuffer;
    complete(): void;
    /** Abandons the image: the partition is freed and never booted. */
    cancel(): void;
    close(): void;
  }
  const Update: {
    open(options: { partition?: string; byteLength: number; mode?: "w" | "r+" }): UpdateSession;
  };
  export default Update;
}
