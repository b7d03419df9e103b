// Per-thing passwords for the plain MQTT listener when it runs off loopback (`xsiot cloud
// --host 0.0.0.0 --plain-mqtt`). On loopback the plain listener takes the client id as the
// thing name (local development); on a network address a client must also give
// username = its thing name and password = that thing's password, so a client id alone
// opens nothing, and one board's password opens only its own thing (the policy still
// limits it to its own topics). The mTLS listener needs none of this: the certificate is
// the credential.
//
// A password is 32 random bytes (base64url) shown once when set; the store keeps a salted
// SHA-256 of it (a slow hash adds nothing against 256 bits of entropy). Checks compare in
// constant time. HTTP: POST /things/<name>/mqtt-password sets a new one (the old one stops
// working), DELETE removes it. CLI: `xsiot things password <name>`.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { ApiError, type CloudContext, type CloudService, type HttpRequest, type HttpResult } from "./service.ts";
import type { Store } from "./store.ts";

interface StoredCredential {
  salt: string;
  hash: string;
  createdAt: number;
}

const TABLE = "mqtt-credentials";
const MAX_PASSWORD = 256;

function digest(salt: string, password: Buffer): Buffer {
  return createHash("sha256").update(Buffer.from(salt, "base64url")).update(password).digest();
}

export class ThingCredentials {
  constructor(private store: Store) {}
  private get table() {
    return this.store.kv<StoredCredential>(TABLE);
  }
  /** Sets a new password for the thing and returns it (the only time it is visible). */
  create(thingName: string, now = Date.now()): string {
    const password = randomBytes(32).toString("base64url");
    const salt = randomBytes(16).toString("base64url");
    this.table.put(thingName, { salt, hash: digest(salt, Buffer.from(password)).toString("base64url"), createdAt: now });
    return password;
  }
  has(thingName: string): boolean {
    return this.table.get(thingName) !== undefined;
  }
  delete(thingName: string): boolean {
    if (!this.has(thingName)) return false;
    this.table.delete(thingName);
    return true;
  }
  /** True when the thing has a password and this is it. */
  verify(thingName: string, password: Buffer | string | undefined): boolean {
    const rec = this.table.get(thingName);
    if (!rec || password === undefined) return false;
    const given = Buffer.isBuffer(password) ? password : Buffer.from(password);
    if (given.length === 0 || given.length > MAX_PASSWORD) return false;
    const want = Buffer.from(rec.hash, "base64url");
    const got = digest(rec.salt, given);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

/** HTTP routes for the passwords (behind the HTTP API's token). */
export function credentialsService(ctx: CloudContext): CloudService {
  const creds = new ThingCredentials(ctx.store);
  return {
    name: "credentials",
    async start() {},
    http(req: HttpRequest): HttpResult | undefined {
      const [a, thingName, b, ...more] = req.path;
      if (a !== "things" || !thingName || b !== "mqtt-password" || more.length) return undefined;
      if (!ctx.registry.get(thingName)) throw new ApiError(404, "ResourceNotFound", `thing ${thingName} not found`);
      if (req.method === "POST") return { status: 201, body: { thingName, username: thingName, password: creds.create(thingName, ctx.now()) } };
      if (req.method === "DELETE") {
        if (!creds.delete(thingName)) throw new ApiError(404, "ResourceNotFound", `thing ${thingName} has no MQTT password`);
        return { status: 200, body: { thingName, deleted: true } };
      }
      return undefined;
    },
  };
}
