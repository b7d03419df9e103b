// What the embedded broker saw of each device, for services that watch behaviour
// rather than topics: connection attempts, authorised publishes (with size),
// refusals (connect, publish, subscribe) and subscriptions. Device Defender's
// cloud-side metrics and command delivery on (re)subscription are built on it.
// External brokers do not report this: those services then see nothing.
import { EventEmitter } from "node:events";

export type AuditEvent =
  | { kind: "connect"; clientId: string; thing?: string; remote?: string }
  | { kind: "disconnect"; clientId: string; thing?: string }
  | { kind: "connect-refused"; clientId: string; thing?: string; remote?: string; reason: string }
  | { kind: "publish"; clientId: string; thing?: string; topic: string; bytes: number }
  | { kind: "publish-refused"; clientId: string; thing?: string; topic: string }
  | { kind: "subscribe"; clientId: string; thing?: string; topic: string }
  | { kind: "subscribe-refused"; clientId: string; thing?: string; topic: string }
  | { kind: "throttled"; clientId: string; thing?: string };

export class BrokerAudit extends EventEmitter<{ event: [AuditEvent] }> {
  record(e: AuditEvent): void {
    this.emit("event", e);
  }
}

const audits = new WeakMap<object, BrokerAudit>();
/** The audit stream of the embedded broker serving this registry (created on first use). */
export function brokerAudit(registry: object): BrokerAudit {
  let a = audits.get(registry);
  if (!a) {
    a = new BrokerAudit();
    audits.set(registry, a);
  }
  return a;
}
