// The virtual ESP32's flash, as files in the device folder:
//   nvs/<namespace>/<key>   key-value storage (ESP32 NVS), each write atomic
//   flash/<partition>.bin   raw data partitions with NOR semantics (erase to 0xFF, writes clear bits)
//   ota_0.bin, ota_1.bin    app partitions holding images
//   otadata.json            which app partition boots, and each image's state
// Power cuts are injected at named points inside writes (see PowerCut).
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync, statSync, readSync, ftruncateSync } from "node:fs";
import { join } from "node:path";

/** Thrown when an injected power cut stops the device in the middle of a storage operation. */
export class PowerCut extends Error {
  constructor(readonly point: string) {
    super(`power cut at ${point}`);
  }
}

/** Called at every step of a storage write; return true to cut power there. */
export type PowerCutHook = (point: string) => boolean;

export const NVS_NAME_MAX = 15; // ESP-IDF NVS: namespace and key names are at most 15 characters
export const NVS_VALUE_MAX = 508_000; // largest NVS blob on a 4 MB part, roughly

export class StorageError extends Error {}

function validName(kind: string, name: unknown): string {
  if (typeof name !== "string" || name.length === 0 || name.length > NVS_NAME_MAX)
    throw new StorageError(`${kind} must be a string of 1 to ${NVS_NAME_MAX} characters (ESP32 NVS), got ${JSON.stringify(name)}`);
  if (!/^[\x21-\x7e]+$/.test(name)) throw new StorageError(`${kind} ${JSON.stringify(name)} must be printable ASCII`);
  return name;
}

// File names for keys: escape anything outside [A-Za-z0-9_-.] so any NVS key maps to one file.
function fileName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).replace(/^\./, "%2e");
}

export interface OtaData {
  boot: "ota_0" | "ota_1";
  states: Record<"ota_0" | "ota_1", OtaState>;
}
export type OtaState = "valid" | "new" | "pending-verify" | "invalid" | "aborted" | "empty";

export class DeviceStorage {
  powerCutHook: PowerCutHook | undefined;
  /**
   * Flush each atomic write to the host's disk before the rename, so a device folder kept
   * between runs survives a host crash. A folder thrown away after the run (the energy
   * report's) sets it false: the device's own power cuts are the hook's, not the host's.
   */
  durable = true;
  writes = 0;
  private readonly generations = new Map<string, number>();

  /** Changes whenever a partition is written or erased (callers cache what they read from it). */
  generation(name: string): number {
    return this.generations.get(name) ?? 0;
  }
  private touch(name: string): void {
    this.generations.set(name, this.generation(name) + 1);
  }

  constructor(
    readonly dir: string,
    readonly partitions: Record<string, number>,
    readonly blockLength = 4096,
  ) {
    mkdirSync(join(dir, "nvs"), { recursive: true });
    mkdirSync(join(dir, "flash"), { recursive: true });
  }

  private cut(point: string): void {
    if (this.powerCutHook?.(point)) throw new PowerCut(point);
  }

  /** Atomic replace: write a temporary file, flush it, rename over the old one. */
  atomicWrite(path: string, bytes: Uint8Array, what: string): void {
    this.writes++;
    this.cut(`${what}:begin`);
    const tmp = path + ".tmp";
    const fd = openSync(tmp, "w");
    try {
      const half = bytes.length >> 1;
      writeSync(fd, bytes, 0, half);
      if (this.powerCutHook?.(`${what}:torn`)) {
        fsyncSync(fd);
        throw new PowerCut(`${what}:torn`);
      }
      writeSync(fd, bytes, half, bytes.length - half);
      if (this.durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.cut(`${what}:written`);
    renameSync(tmp, path);
    this.cut(`${what}:renamed`);
  }

  // ---- key-value (NVS) ----
  private kvPath(namespace: string, key?: string): string {
    const dir = join(this.dir, "nvs", fileName(validName("namespace", namespace)));
    return key === undefined ? dir : join(dir, fileName(validName("key", key)));
  }
  kvOpen(namespace: string): void {
    mkdirSync(this.kvPath(namespace), { recursive: true });
  }
  kvRead(namespace: string, key: string): Uint8Array | undefined {
    const p = this.kvPath(namespace, key);
    return existsSync(p) ? new Uint8Array(readFileSync(p)) : undefined;
  }
  kvWrite(namespace: string, key: string, value: Uint8Array): void {
    if (value.length > NVS_VALUE_MAX) throw new StorageError(`value for "${key}" is ${value.length} bytes; NVS holds at most ${NVS_VALUE_MAX}`);
    this.kvOpen(namespace);
    this.atomicWrite(this.kvPath(namespace, key), value, "kv.write");
  }
  kvDelete(namespace: string, key: string): void {
    this.writes++;
    this.cut("kv.delete:begin");
    rmSync(this.kvPath(namespace, key), { force: true });
  }
  kvKeys(namespace: string): string[] {
    const dir = this.kvPath(namespace);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => !f.endsWith(".tmp"))
      .map((f) => decodeURIComponent(f.replace(/%(?![0-9a-f]{2})/g, "%25")));
  }

  // ---- raw partitions ----
  partitionSize(name: string): number {
    const size = this.partitions[name];
    if (size === undefined) throw new StorageError(`no partition "${name}" on this board (has ${Object.keys(this.partitions).join(", ")})`);
    return size;
  }
  private partitionFile(name: string): string {
    return name.startsWith("ota_") ? join(this.dir, `${name}.bin`) : join(this.dir, "flash", `${fileName(name)}.bin`);
  }
  private ensurePartition(name: string): string {
    const path = this.partitionFile(name);
    const size = this.partitionSize(name);
    if (!existsSync(path) || statSync(path).size !== size) {
      const fd = openSync(path, existsSync(path) ? "r+" : "w+");
      ftruncateSync(fd, 0);
      writeSync(fd, new Uint8Array(size).fill(0xff), 0, size, 0);
      closeSync(fd);
    }
    return path;
  }
  private checkRange(name: string, offset: number, length: number): void {
    const size = this.partitionSize(name);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size)
      throw new StorageError(`access of ${length} bytes at ${offset} is outside partition "${name}" (${size} bytes)`);
  }
  flashRead(name: string, offset: number, length: number): Uint8Array {
    this.checkRange(name, offset, length);
    const fd = openSync(this.ensurePartition(name), "r");
    try {
      const out = new Uint8Array(length);
      readSync(fd, out, 0, length, offset);
      return out;
    } finally {
      closeSync(fd);
    }
  }
  /** NOR flash: a write can only clear bits; erase a block to set them again. Not atomic, like the chip. */
  flashWrite(name: string, offset: number, bytes: Uint8Array): void {
    this.checkRange(name, offset, bytes.length);
    this.writes++;
    this.touch(name);
    const old = this.flashRead(name, offset, bytes.length);
    const merged = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) merged[i] = old[i] & bytes[i];
    const fd = openSync(this.ensurePartition(name), "r+");
    try {
      const half = merged.length >> 1;
      writeSync(fd, merged, 0, half, offset);
      if (this.powerCutHook?.("flash.write:torn")) throw new PowerCut("flash.write:torn");
      writeSync(fd, merged, half, merged.length - half, offset + half);
    } finally {
      closeSync(fd);
    }
  }
  flashErase(name: string, block: number): void {
    const offset = block * this.blockLength;
    this.checkRange(name, offset, this.blockLength);
    this.writes++;
    this.touch(name);
    this.cut("flash.erase:begin");
    const fd = openSync(this.ensurePartition(name), "r+");
    try {
      writeSync(fd, new Uint8Array(this.blockLength).fill(0xff), 0, this.blockLength, offset);
    } finally {
      closeSync(fd);
    }
  }
  /** Erases a whole partition (update.open on the chip erases the target first). */
  eraseAll(name: string): void {
    const size = this.partitionSize(name);
    this.writes++;
    this.touch(name);
    this.cut(`erase:${name}`);
    const fd = openSync(this.partitionFile(name), "w");
    try {
      writeSync(fd, new Uint8Array(size).fill(0xff), 0, size, 0);
    } finally {
      closeSync(fd);
    }
  }

  // ---- OTA data ----
  readOtaData(): OtaData {
    const p = join(this.dir, "otadata.json");
    if (existsSync(p)) {
      try {
        return JSON.parse(readFileSync(p, "utf8")) as OtaData;
      } catch {
        // Like ESP-IDF with both otadata sectors unreadable: fall back to the first app.
      }
    }
    return { boot: "ota_0", states: { ota_0: "empty", ota_1: "empty" } };
  }
  writeOtaData(data: OtaData): void {
    this.atomicWrite(join(this.dir, "otadata.json"), new TextEncoder().encode(JSON.stringify(data)), "otadata.write");
  }
}
