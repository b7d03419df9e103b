// Host stand-in for embedded:storage/key-value (unit tests pass their own store; this one is in memory).
export class MemoryKv {
  readonly data = new Map<string, string>();
  writes = 0;
  read(key: string): string | undefined {
    return this.data.get(key);
  }
  write(key: string, value: string): void {
    if (key.length > 15) throw new RangeError(`key "${key}" longer than 15 characters`);
    this.writes++;
    this.data.set(key, String(value));
  }
  delete(key: string): void {
    this.data.delete(key);
  }
  close(): void {}
}
const namespaces = new Map<string, MemoryKv>();
export default {
  open(options: { path: string }): MemoryKv {
    if (options.path.length > 15) throw new RangeError("namespace longer than 15 characters");
    if (!namespaces.has(options.path)) namespaces.set(options.path, new MemoryKv());
    return namespaces.get(options.path)!;
  },
};
