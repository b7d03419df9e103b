// embedded:storage/key-value over Espruino's require("Storage"): one Storage
// file per key, named "<path>.<key>" (Storage names are at most 28 characters).
// Storage is flash: it survives deep sleep, resets and power cuts. A rewrite
// appends a new copy and marks the old one erased; Espruino compacts when the
// area is full, so writes wear the whole area evenly.
export type KeyValueFormat = "string" | "buffer";

const MAX_NAME = 28;

export interface KeyValueStore {
  read(key: string): ArrayBuffer | string | undefined;
  write(key: string, value: ArrayBuffer | ArrayBufferView | string): void;
  delete(key: string): void;
  close(): void;
}

function storage(): any {
  return require("Storage");
}

function fileName(path: string, key: string): string {
  const name = path + "." + key;
  if (!key || name.length > MAX_NAME) throw new RangeError("key-value: name " + name + " is longer than " + MAX_NAME + " characters");
  return name;
}

// An empty value is kept as one marker byte after a "0" tag: Storage cannot hold an empty file.
// Every file is "1"+value (non-empty) or "0" (empty value).
function open(options: { path: string; format?: KeyValueFormat }): KeyValueStore {
  const path = options.path;
  const asString = options.format === "string";
  let closed = false;
  const live = (): void => {
    if (closed) throw new Error("key-value: closed");
  };
  return {
    read(key: string): ArrayBuffer | string | undefined {
      live();
      const raw: string | undefined = storage().read(fileName(path, key));
      if (raw === undefined || !raw.length) return undefined;
      const body = raw.charAt(0) === "1" ? raw.substr(1) : "";
      if (asString) return body;
      return E.toUint8Array(body).buffer as ArrayBuffer;
    },
    write(key: string, value: ArrayBuffer | ArrayBufferView | string): void {
      live();
      let body: string;
      if (typeof value === "string") body = value;
      else {
        const b = value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
        body = E.toString(b);
        if (body === undefined) body = String.fromCharCode.apply(null, b as unknown as number[]);
      }
      if (!storage().write(fileName(path, key), body.length ? "1" + body : "0")) throw new Error("key-value: flash full writing " + key);
    },
    delete(key: string): void {
      live();
      storage().erase(fileName(path, key));
    },
    close(): void {
      closed = true;
    },
  };
}

const KeyValue = { open };
export default KeyValue;
