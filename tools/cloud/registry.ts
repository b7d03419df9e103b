// Thing registry and the per-identity topic policy the embedded broker enforces.
import { isClaimCn, isValidThingName, CLAIM_CN_PREFIX } from "../pki/index.ts";
import type { Store } from "./store.ts";
import { filterCovers, topicMatches } from "./topics.ts";

export interface Thing {
  thingName: string;
  attributes: Record<string, string>;
  /** Application topic filters this thing may use, `${thing}` is replaced by its name.
   * Absent: DEFAULT_APP_TOPICS. Its own `$aws/things/<name>/#` is always allowed. */
  policy?: string[];
  createdAt: number;
  version: number;
}

export const DEFAULT_APP_TOPICS = ["dt/${thing}/#", "cmd/${thing}/#"];
/** Requests a claim certificate may publish (fleet provisioning by claim). */
export const CLAIM_REQUEST_TOPICS = [
  "$aws/certificates/create/json",
  "$aws/certificates/create-from-csr/json",
  "$aws/provisioning-templates/+/provision/json",
];
/** Answers a claim certificate may subscribe to. A claim may neither publish on these
 * (it could forge an answer for another device sharing the claim) nor subscribe to
 * the requests (it would see other devices' ownership tokens). The cloud delivers each
 * answer to the requesting connection only (broker.ts DirectChannel). */
export const CLAIM_RESPONSE_TOPICS = CLAIM_REQUEST_TOPICS.flatMap((t) => [`${t}/accepted`, `${t}/rejected`]);
/** Everything a claim touches (requests and answers). */
export const CLAIM_TOPICS = [...CLAIM_REQUEST_TOPICS, ...CLAIM_RESPONSE_TOPICS];

/** A certificate issued by fleet provisioning. Its CN is not a thing name: the broker
 * finds the thing through this record (by certificate id), and refuses the certificate
 * unless it is ACTIVE (an unclaimed certificate is harmless). */
export interface CertificateRecord {
  certificateId: string;
  status: "PENDING_ACTIVATION" | "ACTIVE" | "INACTIVE" | "REVOKED";
  /** Why and when it stopped being usable (INACTIVE). */
  deactivated?: { at: number; reason: string };
  /** Thing the certificate is attached to (set when provisioned). */
  thingName?: string;
  createdAt: number;
  /** Claim that asked for it and the MQTT client id it used. */
  claimName: string;
  clientId: string;
}

/** Who is on the other end of a device connection. */
export type Identity = { kind: "thing"; thingName: string } | { kind: "claim"; claimName: string };

export function describeIdentity(id: Identity): string {
  return id.kind === "thing" ? `thing ${id.thingName}` : `claim ${id.claimName}`;
}

/** Identity from a verified certificate CN (mTLS) or, on the plain listener, the client id. */
export function identityFromName(name: string): Identity | undefined {
  if (isClaimCn(name)) {
    const claimName = name.slice(CLAIM_CN_PREFIX.length);
    return isValidThingName(claimName) ? { kind: "claim", claimName } : undefined;
  }
  return isValidThingName(name) ? { kind: "thing", thingName: name } : undefined;
}

export class Registry {
  constructor(private store: Store) {}

  create(thingName: string, opts: { attributes?: Record<string, string>; policy?: string[] } = {}): Thing {
    if (!isValidThingName(thingName)) throw new RegistryError(400, `invalid thing name ${JSON.stringify(thingName)} (1-128 of [a-zA-Z0-9:_-])`);
    if (opts.attributes !== undefined) {
      if (typeof opts.attributes !== "object" || opts.attributes === null || Array.isArray(opts.attributes))
        throw new RegistryError(400, "attributes must be an object of strings");
      for (const [k, v] of Object.entries(opts.attributes))
        if (typeof v !== "string" || k.length > 128 || v.length > 800) throw new RegistryError(400, `attribute ${JSON.stringify(k)} must be a string (<= 800 chars)`);
    }
    if (opts.policy !== undefined) {
      if (!Array.isArray(opts.policy) || opts.policy.some((f) => typeof f !== "string" || !f || f.length > 256))
        throw new RegistryError(400, "policy must be an array of topic filters");
    }
    const existing = this.get(thingName);
    const thing: Thing = {
      thingName,
      attributes: opts.attributes ?? existing?.attributes ?? {},
      ...(opts.policy ?? existing?.policy ? { policy: opts.policy ?? existing?.policy } : {}),
      createdAt: existing?.createdAt ?? Date.now(),
      version: (existing?.version ?? 0) + 1,
    };
    this.store.putThing(thingName, thing);
    return thing;
  }
  get(thingName: string): Thing | undefined {
    return this.store.getThing<Thing>(thingName);
  }
  ensure(thingName: string): Thing {
    return this.get(thingName) ?? this.create(thingName);
  }
  list(): Thing[] {
    return this.store.listThings<Thing>();
  }
  /** Deletes a thing; its provisioned certificates become INACTIVE (an ACTIVE one would bring the thing back). */
  delete(thingName: string): boolean {
    for (const c of this.certificates())
      if (c.thingName === thingName && c.status === "ACTIVE") this.putCertificate({ ...c, status: "INACTIVE", deactivated: { at: Date.now(), reason: "thing deleted" } });
    return this.store.deleteThing(thingName);
  }

  // certificates issued by fleet provisioning, by certificate id (SHA-256 of the DER)
  certificate(certificateId: string): CertificateRecord | undefined {
    return this.store.kv<CertificateRecord>("certificates").get(certificateId);
  }
  putCertificate(rec: CertificateRecord): void {
    const was = this.certificate(rec.certificateId)?.status;
    this.store.kv<CertificateRecord>("certificates").put(rec.certificateId, rec);
    if (was === "ACTIVE" && rec.status !== "ACTIVE") for (const fn of this.revokedListeners) fn(rec.certificateId);
  }
  private revokedListeners: ((certificateId: string) => void)[] = [];
  /** Calls fn when an ACTIVE certificate stops being active (the broker closes its connections). */
  onCertificateRevoked(fn: (certificateId: string) => void): void {
    this.revokedListeners.push(fn);
  }
  certificates(): CertificateRecord[] {
    return this.store.kv<CertificateRecord>("certificates").list().map((r) => r.value);
  }

  /** Topic filters the identity may publish and subscribe to. */
  allowedFilters(id: Identity): string[] {
    if (id.kind === "claim") return CLAIM_TOPICS;
    const t = id.thingName;
    const app = this.get(t)?.policy ?? DEFAULT_APP_TOPICS;
    // Its own thing topics and its own command executions (AWS IoT commands) are always allowed.
    return [`$aws/things/${t}/#`, `$aws/commands/things/${t}/#`, ...app.map((f) => f.split("${thing}").join(t))];
  }
  canPublish(id: Identity, topic: string): boolean {
    const filters = id.kind === "claim" ? CLAIM_REQUEST_TOPICS : this.allowedFilters(id);
    return filters.some((f) => topicMatches(f, topic));
  }
  canSubscribe(id: Identity, filter: string): boolean {
    const filters = id.kind === "claim" ? CLAIM_RESPONSE_TOPICS : this.allowedFilters(id);
    return filters.some((f) => filterCovers(f, filter));
  }
}

export class RegistryError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
