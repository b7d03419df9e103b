// Where the session keeps outgoing QoS 1/2 PUBLISH packets until the broker
// has acknowledged them. Pluggable: a flash-backed queue implements the same
// four methods so nothing unacknowledged is lost across a reboot.

export interface InflightRecord {
  packetId: number;
  /**
   * 0: PUBLISH not sent yet (waiting for flow control or a connection);
   * 1: PUBLISH sent, waiting for PUBACK / PUBREC;
   * 2: PUBREC received, PUBREL sent, waiting for PUBCOMP.
   */
  state: 0 | 1 | 2;
  /**
   * The encoded PUBLISH with its full topic name and DUP clear. The session
   * sets DUP itself on a resend. A store may drop it for state 2.
   */
  packet: Uint8Array | null;
}

export interface InflightStore {
  /** Every record, oldest first (the order the session sends them in). */
  load(): InflightRecord[];
  /** Adds a record, or replaces the one with the same packetId keeping its position. */
  put(record: InflightRecord): void;
  remove(packetId: number): void;
  clear(): void;
}

/** In-memory store: survives reconnects, not reboots. */
export class MemoryInflightStore implements InflightStore {
  private records = new Map<number, InflightRecord>();
  load(): InflightRecord[] {
    const out: InflightRecord[] = [];
    this.records.forEach((r) => out.push({ packetId: r.packetId, state: r.state, packet: r.packet }));
    return out;
  }
  put(record: InflightRecord): void {
    this.records.set(record.packetId, { packetId: record.packetId, state: record.state, packet: record.packet });
  }
  remove(packetId: number): void {
    this.records.delete(packetId);
  }
  clear(): void {
    this.records.clear();
  }
  get size(): number {
    return this.records.size;
  }
}
