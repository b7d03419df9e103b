import { MqttProtocolError } from "./error";
const MALFORMED = 0x81, PACKET_TOO_LARGE = 0x95;

/**
 * Reassembles whole MQTT packets from byte chunks split anywhere. Memory is
 * bounded: a packet's buffer is allocated once its size is known and only if
 * it fits maxPacketSize. Usage:
 *
 *   let at = 0;
 *   while (at < chunk.length) {
 *     at = reader.feed(chunk, at);
 *     const frame = reader.take();
 *     if (frame) handle(frame);
 *   }
 */
export class FrameReader {
  maxPacketSize: number;
  private head = new Uint8Array(5);
  private headLen = 0;
  private frame: Uint8Array | null = null;
  private filled = 0;
  private ready: Uint8Array | null = null;

  constructor(maxPacketSize: number) {
    this.maxPacketSize = maxPacketSize;
  }

  /** True when bytes of an unfinished packet are buffered. */
  get partial(): boolean {
    return this.headLen > 0;
  }

  reset(): void {
    this.headLen = 0;
    this.frame = null;
    this.filled = 0;
    this.ready = null;
  }

  /**
   * Consumes bytes of chunk from `at`, stopping right after a packet
   * completes. Returns the offset of the first byte not consumed.
   * Throws MqttProtocolError on a bad remaining length or an oversize packet.
   */
  feed(chunk: Uint8Array, at = 0): number {
    const end = chunk.length;
    let headAt = -1; // where the fixed header began, when it began in this chunk
    while (at < end && !this.ready) {
      if (!this.frame) {
        const c = chunk[at++];
        const n = this.headLen;
        this.head[n] = c;
        this.headLen = n + 1;
        if (n === 0) {
          headAt = at - 1;
          if (c >> 4 === 0) throw new MqttProtocolError("reserved packet type 0", MALFORMED);
          continue;
        }
        if (c & 0x80) {
          if (n === 4) throw new MqttProtocolError("remaining length longer than 4 bytes", MALFORMED);
          continue;
        }
        if (c === 0 && n > 1) throw new MqttProtocolError("remaining length is not minimally encoded", MALFORMED);
        let len = 0;
        for (let i = n; i >= 1; i--) len = len * 128 + (this.head[i] & 0x7f);
        const size = n + 1 + len;
        if (size > this.maxPacketSize) {
          throw new MqttProtocolError(`packet of ${size} bytes exceeds maximum packet size ${this.maxPacketSize}`, PACKET_TOO_LARGE);
        }
        if (headAt >= 0 && end - headAt >= size) {
          // The whole packet is in this chunk: one block copy (ArrayBuffer.slice), no element walk.
          const o = chunk.byteOffset + headAt;
          this.complete(new Uint8Array((chunk.buffer as ArrayBuffer).slice(o, o + size)));
          at = headAt + size;
          continue;
        }
        const f = new Uint8Array(size);
        f.set(this.head.subarray(0, n + 1));
        this.filled = n + 1;
        if (this.filled === size) this.complete(f);
        else this.frame = f;
        continue;
      }
      const f = this.frame;
      const want = f.length - this.filled;
      const got = end - at < want ? end - at : want;
      f.set(chunk.subarray(at, at + got), this.filled);
      this.filled += got;
      at += got;
      if (this.filled === f.length) this.complete(f);
    }
    return at;
  }

  /** The packet completed by the last feed(), once. */
  take(): Uint8Array | null {
    const f = this.ready;
    this.ready = null;
    return f;
  }

  private complete(f: Uint8Array): void {
    this.ready = f;
    this.frame = null;
    this.headLen = 0;
    this.filled = 0;
  }
}
