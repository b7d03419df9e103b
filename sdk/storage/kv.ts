// Port: a ChunkStore over ECMA-419 key-value storage (NVS on the ESP32; a
// namespace is at most 15 characters, a value at most ~4000 bytes here).
import KeyValue from "embedded:storage/key-value";
import type { ChunkStore } from "./queue";

export function kvChunkStore(path: string): ChunkStore & { close(): void } {
  const kv = KeyValue.open({ path, format: "buffer" });
  return {
    read(key: string): Uint8Array | undefined {
      // format "buffer": an ArrayBuffer, or undefined when the key is absent
      // (modules/io/storage/esp32/storage-esp32.c reads NVS blobs as ArrayBuffers).
      const v: unknown = kv.read(key);
      return v instanceof ArrayBuffer ? new Uint8Array(v) : undefined;
    },
    write(key: string, bytes: Uint8Array): void {
      kv.write(key, bytes);
    },
    remove(key: string): void {
      kv.delete(key);
    },
    close(): void {
      kv.close();
    },
  };
}
