// Watches the bytes a device writes on a socket and reports MQTT PUBLISH
// packets for the trace. Only framing and the topic are read: the device's
// own client is what is under test, not this.
export interface PublishSeen {
  topic: string;
  qos: number;
  retain: boolean;
  dup: boolean;
  bytes: number;
}

export class MqttSniffer {
  private buf = new Uint8Array(0);
  private dead = false;

  /** onPacket, if given, hears of every whole packet: its type (high nibble) and flags (low). */
  push(bytes: Uint8Array, onPublish?: (p: PublishSeen) => void, onPacket?: (type: number, flags: number) => void): void {
    if (this.dead) return;
    const merged = new Uint8Array(this.buf.length + bytes.length);
    merged.set(this.buf);
    merged.set(bytes, this.buf.length);
    let o = 0;
    for (;;) {
      if (merged.length - o < 2) break;
      let len = 0;
      let mul = 1;
      let i = o + 1;
      for (; i < merged.length && i < o + 5; i++) {
        len += (merged[i] & 0x7f) * mul;
        mul *= 128;
        if (!(merged[i] & 0x80)) break;
      }
      if (i >= merged.length) break;
      if (i >= o + 5) {
        this.dead = true; // not MQTT: stop looking
        return;
      }
      const start = i + 1;
      if (merged.length < start + len) break;
      const type = merged[o] >> 4;
      onPacket?.(type, merged[o] & 0x0f);
      if (type === 3 && len >= 2 && onPublish) {
        const tlen = (merged[start] << 8) | merged[start + 1];
        const topic = new TextDecoder().decode(merged.subarray(start + 2, start + 2 + tlen));
        const flags = merged[o] & 0x0f;
        onPublish({ topic, qos: (flags >> 1) & 3, retain: !!(flags & 1), dup: !!(flags & 8), bytes: len });
      }
      o = start + len;
    }
    this.buf = merged.slice(o);
    if (this.buf.length > 1 << 20) this.dead = true;
  }
}
