// Device Defender metrics: what an ESP32 node can say about its own network
// behaviour, in AWS IoT Device Defender's report format (short keys, CBOR), sent
// on $aws/things/<thing>/defender/metrics/cbor with the uplink it rides on.
//
// Metrics that apply to this device: network_stats (bytes and packets in and
// out: MQTT packets, the unit the device sees), tcp_connections (the one
// connection the report travels on), listening ports (none: the node listens on
// nothing, so both lists are empty), and, as custom metrics,
// connection_attempts. Authorization failures are counted by the cloud, where
// AWS counts them too (aws:num-authorization-failures is a cloud-side metric).
//
// The ledger lives in key-value storage and is written once per uplink: the
// counters of the connections since the last report, and when that was.
import KeyValue from "embedded:storage/key-value";
import { encode } from "../cbor/encode";
import type { MqttConnection } from "../mqtt/types";

/** Cumulative counters of one MQTT connection (MQTTClient.counters). */
export interface NetworkCounters {
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  connectAttempts: number;
}

export interface LedgerStore {
  read(key: string): unknown;
  write(key: string, value: string): void;
}

export interface DefenderOptions {
  thingName: string;
  /** Least seconds between two reports (AWS: at least 300). Default 3600. */
  periodS?: number;
  /** Epoch ms (default Date.now). */
  now?(): number;
  /** Default KeyValue.open({ path: "xsiot-dd", format: "string" }). */
  storage?: LedgerStore;
}

interface Ledger {
  /** report id of the last report sent (AWS: monotonically increasing). */
  rid: number;
  /** Epoch s of the last report (0: never). */
  at: number;
  /** Counters since that report, not yet reported. */
  c: NetworkCounters;
}

const KEY = "ledger";
const zero = (): NetworkCounters => ({ bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, connectAttempts: 0 });
const isCount = (v: unknown): v is number => typeof v === "number" && v >= 0 && v <= 0x1fffffffffffff && Math.floor(v) === v;

/** The report as AWS defines it, short keys. */
export function defenderReport(reportId: number, c: NetworkCounters, remoteAddr: string | undefined): Record<string, unknown> {
  return {
    hed: { rid: reportId, v: "1.0" },
    met: {
      tp: { pts: [], t: 0 },
      up: { pts: [], t: 0 },
      ns: { bi: c.bytesIn, bo: c.bytesOut, pi: c.packetsIn, po: c.packetsOut },
      tc: { ec: { cs: remoteAddr ? [{ rad: remoteAddr }] : [], t: remoteAddr ? 1 : 0 } },
    },
    cmet: { connection_attempts: [{ number: c.connectAttempts }] },
  };
}

export class DefenderMetrics {
  private kv: LedgerStore | undefined;
  private ledger: Ledger;
  /** Counters of the live connection already counted in a report sent on it. */
  private offset: NetworkCounters = zero();

  constructor(private readonly options: DefenderOptions) {
    this.ledger = this.load();
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  /** True when a report is due (the period has passed since the last one). */
  due(): boolean {
    return Math.floor(this.now() / 1000) - this.ledger.at >= (this.options.periodS ?? 3600);
  }

  /**
   * On a live connection: if a report is due, publishes one (QoS 1, CBOR) covering
   * the connections since the last report and this one so far. Never wakes the
   * radio itself: call it from an uplink. Resolves true if a report went out.
   */
  async report(client: MqttConnection, live: NetworkCounters, remoteAddr?: string): Promise<boolean> {
    if (!this.due()) return false;
    const total = add(this.ledger.c, live, 1);
    const rid = Math.max(this.ledger.rid + 1, Math.floor(this.now() / 1000));
    const payload = encode(defenderReport(rid, total, remoteAddr));
    await client.publish(`$aws/things/${this.options.thingName}/defender/metrics/cbor`, payload, { qos: 1 });
    this.ledger = { rid, at: Math.floor(this.now() / 1000), c: zero() };
    this.offset = { ...live };
    return true;
  }

  /** At the end of a connection: keeps what was not reported yet (one storage write). */
  settle(final: NetworkCounters): void {
    this.ledger.c = add(this.ledger.c, add(final, this.offset, -1), 1);
    this.offset = zero();
    try {
      this.store().write(KEY, JSON.stringify(this.ledger));
    } catch {
      // Storage full or failing: the counters of this connection are lost; the next report says less.
    }
  }

  private store(): LedgerStore {
    if (!this.kv) this.kv = this.options.storage ?? (KeyValue.open({ path: "xsiot-dd", format: "string" }) as unknown as LedgerStore);
    return this.kv;
  }

  private load(): Ledger {
    try {
      const raw = this.store().read(KEY);
      const v = typeof raw === "string" && raw.length < 1024 ? (JSON.parse(raw) as Ledger) : undefined;
      if (v && isCount(v.rid) && isCount(v.at) && v.c && [v.c.bytesIn, v.c.bytesOut, v.c.packetsIn, v.c.packetsOut, v.c.connectAttempts].every(isCount)) return v;
    } catch {
      // unreadable: start over
    }
    return { rid: 0, at: 0, c: zero() };
  }
}

function add(a: NetworkCounters, b: NetworkCounters, sign: 1 | -1): NetworkCounters {
  return {
    bytesIn: Math.max(0, a.bytesIn + sign * b.bytesIn),
    bytesOut: Math.max(0, a.bytesOut + sign * b.bytesOut),
    packetsIn: Math.max(0, a.packetsIn + sign * b.packetsIn),
    packetsOut: Math.max(0, a.packetsOut + sign * b.packetsOut),
    connectAttempts: Math.max(0, a.connectAttempts + sign * b.connectAttempts),
  };
}
