// Engine snapshots that start cheaply. An xsnap snapshot records the heap size of the
// machine that wrote it (its "CREA" atom: initialChunkSize = the machine's chunk space,
// initialHeapCount = its slot count), and a worker started from it allocates that much
// before reading the heap back: 32 MB of chunks that XS zeroes (xsMemory.c fxGrowChunks,
// under mxSnapshot) and 256 Ki slots it links into the free list (fxGrowSlots) — about
// 10,000 page faults, 25-40 ms of CPU per wake, for a few hundred KB of preloaded heap.
// The chip's whole JS heap is about 128 KB. Writing the snapshot's sizes down to what it
// holds plus headroom makes each wake's engine start in a few ms; the engine still grows
// on demand (incrementalChunkSize / incrementalHeapCount, after a collection), as before.
// Nothing metered changes: XS meters compute in the interpreter loop, not in the collector
// (moddable/xs/sources/xsMemory.c has no mxMeter*), and currentHeapCount counts live slots.
// Layout read here (xsSnapshot.c fxWriteSnapshot / fxReadSnapshot): an "XS_M" container,
// then atoms of [u32 big-endian size incl. the 8-byte header][4-char type]: VERS (4 bytes,
// the last = sizeof(txSlot)), SIGN, CREA (txCreation: 12 little-endian int32, then profile
// id and tag), BLOC (the used chunk bytes), HEAP (the used slots), ...
import { readFileSync, writeFileSync } from "node:fs";

/** Headroom over what the snapshot holds: chunk bytes and slots a wake may use before the engine collects or grows. */
export const SNAPSHOT_CHUNK_HEADROOM = 1 << 20;
export const SNAPSHOT_SLOT_HEADROOM = 1 << 15;

interface Atom {
  at: number;
  size: number;
}

/** The snapshot's atoms up to HEAP, or undefined when the bytes are not laid out as expected. */
function atoms(bytes: Buffer): Record<string, Atom> | undefined {
  if (bytes.length < 16 || bytes.toString("latin1", 4, 8) !== "XS_M") return undefined;
  const found: Record<string, Atom> = {};
  let o = 8;
  for (const type of ["VERS", "SIGN", "CREA", "BLOC", "HEAP"]) {
    if (o + 8 > bytes.length) return undefined;
    const size = bytes.readUInt32BE(o);
    if (bytes.toString("latin1", o + 4, o + 8) !== type || size < 8 || o + size > bytes.length) return undefined;
    found[type] = { at: o + 8, size: size - 8 };
    o += size;
  }
  return found;
}

/**
 * Rewrites the heap sizes a worker allocates when it starts from this snapshot file to what
 * the snapshot holds plus headroom. Returns false (file untouched) if the file is not laid
 * out as this reads it or already fits.
 */
export function fitSnapshotHeap(path: string): boolean {
  const bytes = readFileSync(path);
  const a = atoms(bytes);
  if (!a || a.VERS.size !== 4 || a.CREA.size < 48) return false;
  const slotSize = bytes[a.VERS.at + 3];
  if (!(slotSize > 0) || a.HEAP.size % slotSize !== 0) return false;
  const crea = a.CREA.at;
  const chunkSize = bytes.readInt32LE(crea);
  const heapCount = bytes.readInt32LE(crea + 8);
  const chunks = a.BLOC.size + SNAPSHOT_CHUNK_HEADROOM;
  const slots = a.HEAP.size / slotSize + 1 + SNAPSHOT_SLOT_HEADROOM;
  if (chunks >= chunkSize && slots >= heapCount) return false;
  bytes.writeInt32LE(Math.min(chunks, chunkSize), crea);
  bytes.writeInt32LE(Math.min(slots, heapCount), crea + 8);
  writeFileSync(path, bytes);
  return true;
}
