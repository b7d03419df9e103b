import KeyValue from "embedded:storage/key-value";
import type { InflightRecord, InflightStore } from "./store";

// InflightStore on embedded:storage/key-value (NVS on the ESP32): unacknowledged
// QoS 1/2 PUBLISH packets survive deep sleep, resets and power cuts.
//
// Layout in the namespace: "o" holds the packet ids in send order (u16 each);
// "r<id>" holds one record: [state, id hi, id lo, ...encoded PUBLISH]. A record
// is written before the order that names it, and unnamed from the order before
// it is deleted, so a power cut between the two leaves at worst an orphan
// record (never loaded) — never an order entry without its record.
// Everything read back is validated; a bad record is dropped, not trusted.

// The store's type as either typing names it (Moddable's names it Storage).
type KeyValueStore = ReturnType<typeof KeyValue.open>;

const ORDER = "o";
const MAX_RECORDS = 256;

function key(id: number): string {
  return "r" + id;
}

export class KeyValueInflightStore implements InflightStore {
  private kv: KeyValueStore;
  private order: number[];
  private maxPacket: number;

  /** path: NVS namespace (at most 15 characters); maxPacket: largest record accepted on load. */
  constructor(path = "mqtt", maxPacket = 65536) {
    this.kv = KeyValue.open({ path, format: "buffer" });
    this.maxPacket = maxPacket;
    this.order = [];
    const raw = this.kv.read(ORDER);
    if (raw instanceof ArrayBuffer && !(raw.byteLength & 1) && raw.byteLength <= MAX_RECORDS * 2) {
      const b = new Uint8Array(raw);
      for (let i = 0; i < b.length; i += 2) {
        const id = (b[i] << 8) | b[i + 1];
        if (id > 0 && this.order.indexOf(id) < 0) this.order.push(id);
      }
    }
  }

  load(): InflightRecord[] {
    const out: InflightRecord[] = [];
    const keep: number[] = [];
    for (const id of this.order) {
      const r = this.read(id);
      if (r) {
        out.push(r);
        keep.push(id);
      }
    }
    if (keep.length !== this.order.length) {
      this.order = keep;
      this.writeOrder();
    }
    return out;
  }

  put(record: InflightRecord): void {
    const p = record.state === 2 ? null : record.packet;
    const n = p ? p.length : 0;
    const b = new Uint8Array(3 + n);
    b[0] = record.state;
    b[1] = record.packetId >> 8;
    b[2] = record.packetId & 0xff;
    if (p) b.set(p, 3);
    this.kv.write(key(record.packetId), b);
    if (this.order.indexOf(record.packetId) < 0) {
      this.order.push(record.packetId);
      this.writeOrder();
    }
  }

  remove(packetId: number): void {
    const i = this.order.indexOf(packetId);
    if (i < 0) return;
    this.order.splice(i, 1);
    this.writeOrder();
    this.kv.delete(key(packetId));
  }

  clear(): void {
    const ids = this.order;
    this.order = [];
    this.writeOrder();
    for (const id of ids) this.kv.delete(key(id));
  }

  get size(): number {
    return this.order.length;
  }

  private read(id: number): InflightRecord | null {
    const raw = this.kv.read(key(id));
    if (!(raw instanceof ArrayBuffer) || raw.byteLength < 3 || raw.byteLength > 3 + this.maxPacket) return null;
    const b = new Uint8Array(raw);
    const state = b[0];
    if (state > 2 || ((b[1] << 8) | b[2]) !== id) return null;
    if (state === 2) return { packetId: id, state: 2, packet: null };
    // A PUBLISH of QoS 1 or 2: type 3, QoS bits 01 or 10.
    const p = b.subarray(3);
    const qos = (p.length ? p[0] >> 1 : 0) & 3;
    if (p.length < 4 || p[0] >> 4 !== 3 || qos === 0 || qos === 3) return null;
    return { packetId: id, state: state as 0 | 1, packet: p.slice() };
  }

  private writeOrder(): void {
    const b = new Uint8Array(this.order.length * 2);
    for (let i = 0; i < this.order.length; i++) {
      b[i * 2] = this.order[i] >> 8;
      b[i * 2 + 1] = this.order[i] & 0xff;
    }
    this.kv.write(ORDER, b);
  }
}

export default KeyValueInflightStore;
