// The scheduler's uplink over HTTPS instead of MQTT: each telemetry message is one
// POST to /topics/dt/<thing>/telemetry?qos=1 on its own mutual-TLS connection (a
// handshake per request, as AWS IoT's HTTPS data plane takes them). Publish only:
// HTTPS cannot receive, so no shadow sync and no jobs on this path. It keeps the
// scheduler's contract: ackedThrough is the last sequence number acknowledged in
// order (HTTP 200), so nothing unacknowledged is dropped from the flash queue.
import { RECORD_SIZE, decodeReading, telemetryPayload, type Reading } from "../sleep/record";
import type { UplinkRequest, UplinkResult } from "../sleep/uplink";
import { utf8Length, utf8Write } from "../text/utf8";
import { httpsPost, type TlsSocketClass } from "./post";

export function httpsUplink(socket: TlsSocketClass, httpsPort: number) {
  return async (req: UplinkRequest): Promise<UplinkResult> => {
    const now = req.now ?? (() => Date.now());
    const started = now();
    const result: UplinkResult = { ok: false, ackedThrough: 0, acked: 0, radioMs: 0 };
    const tls = req.mqtt.tls;
    if (!tls) {
      result.error = "https needs the mutual-TLS identity (mqtt.tls)";
      return result;
    }
    const count = Math.floor(req.readings.length / RECORD_SIZE);
    const path = `/topics/${encodeURIComponent(req.topic ?? `dt/${req.thing}/telemetry`)}?qos=1`;
    try {
      for (let i = 0; i < count; i += req.perMessage) {
        const group: Reading[] = [];
        for (let j = i; j < Math.min(count, i + req.perMessage); j++) group.push(decodeReading(req.readings, j * RECORD_SIZE));
        const text = telemetryPayload(group, req.meta);
        const body = new Uint8Array(utf8Length(text));
        utf8Write(text, body, 0);
        const left = req.budgetMs - (now() - started);
        if (left <= 0) throw new Error(`radio budget of ${req.budgetMs} ms spent`);
        const status = await httpsPost({ host: req.mqtt.host, port: httpsPort, socket, tls }, path, "application/json", body, left);
        if (status !== 200) throw new Error(`https: HTTP ${status}`);
        result.ackedThrough = group[group.length - 1].seq;
        result.acked += group.length;
      }
      result.ok = true;
    } catch (e) {
      result.error = (e as Error).message;
    }
    result.radioMs = now() - started;
    return result;
  };
}
