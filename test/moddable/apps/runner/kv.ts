// Moddable's lin build has no embedded:storage/key-value (modules/io/storage/manifest.json
// names no lin implementation). The jobs agent imports it; this lin test app maps the
// specifier to this in-memory store, with the shape of Moddable's
// modules/io/storage/key-value (open({path, format}) -> read/write/delete/close).
const domains = new Map<string, Map<string, any>>();

class Store {
  #map: Map<string, any>;
  constructor(map: Map<string, any>) {
    this.#map = map;
  }
  // Values as stored: strings for format "string", ArrayBuffer copies for format "buffer".
  read(key: string): any {
    const v = this.#map.get(key);
    return v instanceof ArrayBuffer ? v.slice(0) : v;
  }
  write(key: string, value: any): void {
    this.#map.set(key, typeof value === "string" ? value : ArrayBuffer.isView(value) ? new Uint8Array(value.buffer as ArrayBuffer, value.byteOffset, value.byteLength).slice().buffer : (value as ArrayBuffer).slice(0));
  }
  delete(key: string): void {
    this.#map.delete(key);
  }
  close(): void {}
}

const KeyValue = {
  open(options: { path: string; format?: string }): Store {
    let map = domains.get(options.path);
    if (!map) domains.set(options.path, (map = new Map()));
    return new Store(map);
  },
};
export default KeyValue;
