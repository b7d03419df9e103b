// Fleet provisioning by claim, AWS IoT's MQTT contract:
//   $aws/certificates/create/json            -> {certificateId, certificatePem, privateKey, certificateOwnershipToken}
//   $aws/certificates/create-from-csr/json   {certificateSigningRequest} -> {certificateId, certificatePem, certificateOwnershipToken}
//   $aws/provisioning-templates/T/provision/json {certificateOwnershipToken, parameters} -> {thingName, deviceConfiguration}
// each answered on /accepted or /rejected ({statusCode, errorCode, errorMessage}).
// Only claim identities may ask (the broker's policy), and every answer goes to the
// requesting connection alone through the broker's DirectChannel: claim devices share
// these topics, and a create answer carries a private key.
// Certificates are issued by the local CA with a CN that is not a thing name, recorded
// as PENDING_ACTIVATION; provisioning attaches one to its thing and makes it ACTIVE, and
// only then does the broker accept it (as that thing).
// No active orphans: a power cut can stop a device between the cloud's activation and its
// own commit, so it never stores the certificate the cloud activated and provisions again.
// One certificate per thing: provisioning a thing deactivates (INACTIVE) its other ACTIVE
// certificates and closes their connections, and the certificates the same device (claim
// and client id) created but never provisioned. A certificate awaiting activation becomes
// INACTIVE when its token expires (1 h) or the cloud restarts (tokens live in memory).
// An ACTIVE certificate is never expired by time alone: a device that committed it may
// stay off for months, and its claim is gone.
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { certificateId, isValidThingName, issueCertificate, loadCa, signCsr, type Ca } from "../pki/index.ts";
import { directChannel, type DirectRequest } from "./broker.ts";
import type { CertificateRecord } from "./registry.ts";
import { ApiError, type CloudContext, type CloudService, type HttpRequest, type HttpResult } from "./service.ts";

export interface ProvisioningTemplate {
  templateName: string;
  enabled: boolean;
  /** Allowed SerialNumber values. With serialPattern too, a serial passes if either allows it. */
  serials?: string[];
  /** Anchored regular expression a SerialNumber must match. */
  serialPattern?: string;
  /** Thing name, `${Param}` replaced by parameters, e.g. "sensor-${SerialNumber}". */
  thingNamePattern: string;
  /** Thing attributes; values may use `${Param}`. */
  attributes?: Record<string, string>;
  /** Parameters a request must carry (default ["SerialNumber"]). */
  requiredParameters?: string[];
  /** Claim names (CN after the claim prefix) allowed to use the template; absent: any claim. */
  claims?: string[];
  /** Returned to the device as deviceConfiguration. */
  deviceConfiguration?: Record<string, string>;
}

export interface ProvisioningError {
  statusCode: number;
  errorCode: string;
  errorMessage: string;
}

const TEMPLATE_NAME = /^[0-9A-Za-z_-]{1,36}$/;
const PARAM_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_REQUEST = 8 * 1024;
const MAX_PARAMS = 32;
const MAX_PARAM_VALUE = 256;
const TOKEN_TTL_MS = 60 * 60_000; // AWS: the ownership token is valid for one hour
const MAX_TOKENS = 10_000;
/** Certificates from provisioning carry this CN prefix: '.' is not allowed in a thing name,
 * so such a certificate is refused unless the registry attaches it to a thing. */
export const PROVISIONED_CN_PREFIX = "xsiot-fp.";

class Rejection extends Error {
  constructor(
    readonly statusCode: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

function substitute(pattern: string, params: Record<string, string>): string {
  return pattern.replace(/\$\{([^}]{1,64})\}/g, (_, name: string) => {
    if (!(name in params)) throw new Rejection(400, "InvalidParameters", `parameter ${name} is required by the template`);
    return params[name];
  });
}

export function validateTemplate(input: unknown): ProvisioningTemplate {
  const bad = (m: string) => new ApiError(400, "InvalidRequest", m);
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw bad("template must be an object");
  const t = input as Record<string, unknown>;
  if (typeof t.templateName !== "string" || !TEMPLATE_NAME.test(t.templateName)) throw bad("templateName: 1-36 of [0-9A-Za-z_-]");
  const strings = (name: string, v: unknown, max: number) => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length > max || v.some((s) => typeof s !== "string" || !s || s.length > MAX_PARAM_VALUE)) throw bad(`${name}: an array of at most ${max} non-empty strings`);
    return v as string[];
  };
  const record = (name: string, v: unknown) => {
    if (v === undefined) return undefined;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(`${name}: an object of strings`);
    const e = Object.entries(v);
    if (e.length > 50 || e.some(([k, s]) => typeof s !== "string" || k.length > 128 || s.length > 800)) throw bad(`${name}: at most 50 string values`);
    return v as Record<string, string>;
  };
  const serials = strings("serials", t.serials, 100_000);
  let serialPattern: string | undefined;
  if (t.serialPattern !== undefined) {
    if (typeof t.serialPattern !== "string" || !t.serialPattern || t.serialPattern.length > 256) throw bad("serialPattern: a regular expression of at most 256 chars");
    try {
      new RegExp(`^(?:${t.serialPattern})$`);
    } catch (e) {
      throw bad(`serialPattern: ${(e as Error).message}`);
    }
    serialPattern = t.serialPattern;
  }
  if (!serials && !serialPattern) throw bad("give serials (a list) or serialPattern (a regular expression): a template must not accept any serial");
  const thingNamePattern = t.thingNamePattern ?? "${SerialNumber}";
  if (typeof thingNamePattern !== "string" || !thingNamePattern || thingNamePattern.length > 128) throw bad("thingNamePattern: a string such as sensor-${SerialNumber}");
  if (t.enabled !== undefined && typeof t.enabled !== "boolean") throw bad("enabled: a boolean");
  return {
    templateName: t.templateName,
    enabled: t.enabled ?? true,
    ...(serials ? { serials } : {}),
    ...(serialPattern ? { serialPattern } : {}),
    thingNamePattern,
    ...(t.attributes !== undefined ? { attributes: record("attributes", t.attributes) } : {}),
    ...(t.requiredParameters !== undefined ? { requiredParameters: strings("requiredParameters", t.requiredParameters, MAX_PARAMS) } : {}),
    ...(t.claims !== undefined ? { claims: strings("claims", t.claims, 1000) } : {}),
    ...(t.deviceConfiguration !== undefined ? { deviceConfiguration: record("deviceConfiguration", t.deviceConfiguration) } : {}),
  };
}

interface Token {
  certificateId: string;
  claimName: string;
  clientId: string;
  expiresAt: number;
}

export class ProvisioningService implements CloudService {
  readonly name = "provisioning";
  private templates;
  private tokens = new Map<string, Token>();
  private ca: Ca | undefined;
  private removers: (() => void)[] = [];
  private sweeper: ReturnType<typeof setInterval> | undefined;
  /** Counters for tests and the HTTP API. */
  readonly stats = { created: 0, provisioned: 0, rejected: 0, deactivated: 0 };

  constructor(
    private ctx: CloudContext,
    private pkiDir: string,
  ) {
    this.templates = ctx.store.kv<ProvisioningTemplate>("provisioning-templates");
  }

  async start(): Promise<void> {
    const channel = directChannel(this.ctx.registry);
    if (!channel) {
      this.ctx.log.warn("fleet provisioning is off: it needs the embedded broker (answers go to one connection only)");
      return;
    }
    const on = (filter: string, fn: (r: DirectRequest) => Promise<object>) =>
      this.removers.push(channel.onRequest(filter, (req) => void this.serve(req, fn)));
    on("$aws/certificates/create/json", (r) => this.create(r, false));
    on("$aws/certificates/create-from-csr/json", (r) => this.create(r, true));
    on("$aws/provisioning-templates/+/provision/json", (r) => this.provision(r));
    // Tokens do not survive a restart: nothing awaiting activation can be activated now.
    this.deactivate((c) => c.status === "PENDING_ACTIVATION", "cloud restarted before it was provisioned");
    this.sweeper = setInterval(() => this.expirePending(), Math.min(TOKEN_TTL_MS / 4, 15 * 60_000));
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    for (const r of this.removers.splice(0)) r();
    clearInterval(this.sweeper);
  }

  /** Certificates awaiting activation whose ownership token has expired become INACTIVE. Returns how many. */
  expirePending(now = this.ctx.now()): number {
    for (const [k, v] of this.tokens) if (v.expiresAt <= now) this.tokens.delete(k);
    const live = new Set([...this.tokens.values()].map((t) => t.certificateId));
    return this.deactivate((c) => c.status === "PENDING_ACTIVATION" && !live.has(c.certificateId), "ownership token expired", now);
  }

  /** Marks the matching certificates INACTIVE and forgets their tokens. */
  private deactivate(which: (c: CertificateRecord) => boolean, reason: string, now = this.ctx.now()): number {
    const hit = this.ctx.registry.certificates().filter((c) => (c.status === "ACTIVE" || c.status === "PENDING_ACTIVATION") && which(c));
    if (!hit.length) return 0;
    this.ctx.store.transaction(() => {
      for (const c of hit) this.ctx.registry.putCertificate({ ...c, status: "INACTIVE", deactivated: { at: now, reason } });
    });
    const ids = new Set(hit.map((c) => c.certificateId));
    for (const [k, v] of this.tokens) if (ids.has(v.certificateId)) this.tokens.delete(k);
    // (The broker closes the connections of an ACTIVE one: Registry.onCertificateRevoked.)
    for (const c of hit) {
      this.ctx.log.info(`provisioning: certificate ${c.certificateId.slice(0, 12)}… ${c.status} -> INACTIVE (${reason})`);
    }
    this.stats.deactivated += hit.length;
    return hit.length;
  }

  // ---- templates (programmatic API; the HTTP API and the CLI use these) ----
  putTemplate(input: unknown): ProvisioningTemplate {
    const t = validateTemplate(input);
    this.templates.put(t.templateName, t);
    return t;
  }
  getTemplate(name: string): ProvisioningTemplate | undefined {
    return this.templates.get(name);
  }
  listTemplates(): ProvisioningTemplate[] {
    return this.templates.list().map((r) => r.value);
  }
  deleteTemplate(name: string): boolean {
    if (!this.templates.get(name)) return false;
    this.templates.delete(name);
    return true;
  }

  // ---- MQTT ----
  /** Requests whose answer is not sent yet. */
  private working = 0;
  busy(): boolean {
    return this.working > 0;
  }

  private async serve(req: DirectRequest, fn: (r: DirectRequest) => Promise<object>): Promise<void> {
    this.working++;
    try {
      await this.answer(req, fn);
    } finally {
      this.working--;
    }
  }

  private async answer(req: DirectRequest, fn: (r: DirectRequest) => Promise<object>): Promise<void> {
    let topic = `${req.topic}/accepted`;
    let body: object;
    try {
      if (req.identity.kind !== "claim") throw new Rejection(403, "Forbidden", "fleet provisioning needs a claim certificate");
      if (req.payload.length > MAX_REQUEST) throw new Rejection(413, "PayloadTooLarge", `request exceeds ${MAX_REQUEST} bytes`);
      body = await fn(req);
    } catch (e) {
      topic = `${req.topic}/rejected`;
      this.stats.rejected++;
      if (e instanceof Rejection) body = { statusCode: e.statusCode, errorCode: e.errorCode, errorMessage: e.message } satisfies ProvisioningError;
      else {
        this.ctx.log.error(`provisioning ${req.topic}: ${(e as Error).stack ?? e}`);
        body = { statusCode: 500, errorCode: "InternalFailure", errorMessage: "internal error" } satisfies ProvisioningError;
      }
      this.ctx.log.info(`provisioning: rejected ${req.clientId} on ${req.topic}: ${(body as ProvisioningError).errorCode}`);
    }
    const delivered = await req.reply(topic, JSON.stringify(body));
    if (!delivered) {
      this.ctx.log.warn(`provisioning: ${req.clientId} left before its answer on ${topic}`);
      // A certificate whose answer (and private key) never reached the device can never be used: not left pending.
      const made = (body as { certificateId?: unknown }).certificateId;
      if (typeof made === "string") this.deactivate((c) => c.certificateId === made && c.status === "PENDING_ACTIVATION", "the device left before the answer");
    }
  }

  private parse(req: DirectRequest, allowEmpty: boolean): Record<string, unknown> {
    const text = req.payload.toString("utf8");
    if (allowEmpty && text.trim() === "") return {};
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new Rejection(400, "InvalidPayload", "payload is not JSON");
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Rejection(400, "InvalidPayload", "payload must be a JSON object");
    return v as Record<string, unknown>;
  }

  private async loadedCa(): Promise<Ca> {
    this.ca ??= await loadCa(this.pkiDir);
    return this.ca;
  }

  private newToken(t: Omit<Token, "expiresAt">): string {
    const now = this.ctx.now();
    if (this.tokens.size >= MAX_TOKENS) for (const [k, v] of this.tokens) if (v.expiresAt <= now) this.tokens.delete(k);
    if (this.tokens.size >= MAX_TOKENS) this.tokens.delete(this.tokens.keys().next().value!);
    const token = randomBytes(32).toString("base64url");
    this.tokens.set(token, { ...t, expiresAt: now + TOKEN_TTL_MS });
    return token;
  }

  private async create(req: DirectRequest, fromCsr: boolean): Promise<object> {
    const body = this.parse(req, !fromCsr);
    this.expirePending();
    const claimName = req.identity.kind === "claim" ? req.identity.claimName : "";
    const ca = await this.loadedCa();
    const cn = PROVISIONED_CN_PREFIX + randomBytes(8).toString("hex");
    let certPem: string;
    let keyPem: string | undefined;
    if (fromCsr) {
      const csr = body.certificateSigningRequest;
      if (typeof csr !== "string" || csr.length > 4096 || !csr.includes("-----BEGIN CERTIFICATE REQUEST-----"))
        throw new Rejection(400, "InvalidPayload", "certificateSigningRequest: a PEM CSR of at most 4096 chars");
      try {
        certPem = await signCsr(ca, csr, { cn, usage: "client" });
      } catch (e) {
        throw new Rejection(400, "InvalidCertificateSigningRequest", `CSR refused: ${(e as Error).message}`);
      }
    } else {
      // RSA-2048, as AWS IoT's CreateKeysAndCertificate returns, and the only client key Moddable's TLS can use.
      ({ certPem, keyPem } = await issueCertificate(ca, { cn, usage: "client", keyType: "rsa" }));
    }
    const id = certificateId(certPem);
    const rec: CertificateRecord = { certificateId: id, status: "PENDING_ACTIVATION", createdAt: this.ctx.now(), claimName, clientId: req.clientId };
    this.ctx.registry.putCertificate(rec);
    this.stats.created++;
    const certificateOwnershipToken = this.newToken({ certificateId: id, claimName, clientId: req.clientId });
    this.ctx.log.info(`provisioning: certificate ${id.slice(0, 12)}… for ${req.clientId} (claim ${claimName}${fromCsr ? ", from CSR" : ""})`);
    return keyPem !== undefined
      ? { certificateId: id, certificatePem: certPem, privateKey: keyPem, certificateOwnershipToken }
      : { certificateId: id, certificatePem: certPem, certificateOwnershipToken };
  }

  private async provision(req: DirectRequest): Promise<object> {
    const templateName = req.topic.split("/")[2];
    const template = this.templates.get(templateName);
    if (!template || !template.enabled) throw new Rejection(404, "ResourceNotFound", `provisioning template ${templateName} does not exist or is disabled`);
    const claimName = req.identity.kind === "claim" ? req.identity.claimName : "";
    if (template.claims && !template.claims.includes(claimName)) throw new Rejection(403, "AccessDenied", `claim ${claimName} may not use template ${templateName}`);
    const body = this.parse(req, false);
    const tokenText = body.certificateOwnershipToken;
    if (typeof tokenText !== "string" || tokenText.length > 512) throw new Rejection(400, "InvalidPayload", "certificateOwnershipToken: a string");
    const params = body.parameters ?? {};
    if (typeof params !== "object" || params === null || Array.isArray(params)) throw new Rejection(400, "InvalidPayload", "parameters: an object of strings");
    const entries = Object.entries(params);
    if (entries.length > MAX_PARAMS || entries.some(([k, v]) => !PARAM_NAME.test(k) || typeof v !== "string" || v.length > MAX_PARAM_VALUE))
      throw new Rejection(400, "InvalidParameters", `parameters: at most ${MAX_PARAMS} string values of at most ${MAX_PARAM_VALUE} chars`);
    const parameters = params as Record<string, string>;
    for (const p of template.requiredParameters ?? ["SerialNumber"])
      if (!(p in parameters)) throw new Rejection(400, "InvalidParameters", `parameter ${p} is required by template ${templateName}`);

    // The token: one-time, unexpired, issued to this claim and this client id.
    const token = this.tokens.get(tokenText);
    if (!token || token.expiresAt <= this.ctx.now() || token.claimName !== claimName || token.clientId !== req.clientId)
      throw new Rejection(400, "InvalidCertificateOwnershipToken", "the certificate ownership token is unknown, expired, used, or not yours");
    const cert = this.ctx.registry.certificate(token.certificateId);
    if (!cert || cert.status !== "PENDING_ACTIVATION") throw new Rejection(400, "InvalidCertificateOwnershipToken", "the certificate is not awaiting activation");

    const serial = parameters.SerialNumber;
    if (serial !== undefined) {
      const listed = template.serials?.includes(serial) ?? false;
      const matched = template.serialPattern ? new RegExp(`^(?:${template.serialPattern})$`).test(serial) : false;
      if (!listed && !matched) throw new Rejection(403, "AccessDenied", `serial number ${JSON.stringify(serial.slice(0, 64))} is not allowed by template ${templateName}`);
    }
    const thingName = substitute(template.thingNamePattern, parameters);
    if (!isValidThingName(thingName)) throw new Rejection(400, "InvalidParameters", `thing name ${JSON.stringify(thingName.slice(0, 140))} is not valid (1-128 of [a-zA-Z0-9:_-])`);
    const attributes = template.attributes ? Object.fromEntries(Object.entries(template.attributes).map(([k, v]) => [k, substitute(v, parameters)])) : undefined;

    // All checks passed: consume the token (synchronously: a replay racing this one fails), then commit.
    this.tokens.delete(tokenText);
    this.ctx.store.transaction(() => {
      this.ctx.registry.create(thingName, attributes ? { attributes: { ...this.ctx.registry.get(thingName)?.attributes, ...attributes } } : {});
      this.ctx.registry.putCertificate({ ...cert, status: "ACTIVE", thingName });
      // One certificate per thing, and nothing left from this device's earlier attempts
      // (a power cut after the cloud's activation leaves the device without it).
      this.deactivate(
        (c) =>
          c.certificateId !== cert.certificateId &&
          ((c.status === "ACTIVE" && c.thingName === thingName) || (c.status === "PENDING_ACTIVATION" && c.claimName === claimName && c.clientId === req.clientId)),
        `superseded by ${cert.certificateId.slice(0, 12)}… for ${thingName}`,
      );
    });
    this.stats.provisioned++;
    this.ctx.log.info(`provisioning: ${req.clientId} is thing ${thingName} (template ${templateName}, certificate ${cert.certificateId.slice(0, 12)}…)`);
    return { thingName, deviceConfiguration: template.deviceConfiguration ?? {} };
  }

  // ---- HTTP: /provisioning-templates[/name], /certificates ----
  http(req: HttpRequest): HttpResult | undefined {
    const [a, name, ...more] = req.path;
    if (a === "certificates" && !name && req.method === "GET") return { status: 200, body: { certificates: this.ctx.registry.certificates() } };
    if (a !== "provisioning-templates" || more.length) return undefined;
    if (!name) {
      if (req.method === "GET") return { status: 200, body: { templates: this.listTemplates() } };
      if (req.method === "POST") return { status: 201, body: this.putTemplate(req.body) };
      return undefined;
    }
    if (req.method === "GET") {
      const t = this.getTemplate(name);
      if (!t) throw new ApiError(404, "ResourceNotFound", `template ${name} not found`);
      return { status: 200, body: t };
    }
    if (req.method === "PUT") return { status: 200, body: this.putTemplate({ ...(req.body as object), templateName: name }) };
    if (req.method === "DELETE") {
      if (!this.deleteTemplate(name)) throw new ApiError(404, "ResourceNotFound", `template ${name} not found`);
      return { status: 200, body: { templateName: name, deleted: true } };
    }
    return undefined;
  }
}

/** The service factory. The CA is the cloud's: `ctx.pkiDir` when the context carries it,
 * else `<dir>/pki` next to the cloud's database (startCloud's default). */
export function provisioningService(ctx: CloudContext): CloudService {
  const pkiDir = (ctx as CloudContext & { pkiDir?: string }).pkiDir ?? join(dirname(ctx.store.db.name), "pki");
  return new ProvisioningService(ctx, pkiDir);
}
