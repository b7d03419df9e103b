// Publishing an OTA update to things through a running cloud's HTTP API:
// upload the signed image as a stream (chunked), create the afr_ota job,
// then follow each execution's statusDetails until every one has ended.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { buildApp, parseImage } from "../sim/image.ts";
import { cloudApi } from "../cloud/client.ts";
import type { Execution, Job } from "../cloud/jobs.ts";
import { CHUNK } from "../cloud/streams.ts";
import { signImage } from "./signing.ts";

const VERSION = /^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$/;

/** An app folder (built here with the version) or a built image file (its version must match). */
export function loadImage(path: string, version: string): Uint8Array {
  if (!VERSION.test(version)) throw new Error(`--version "${version}" is not a version like 1.2.0`);
  if (!existsSync(path)) throw new Error(`image ${path} not found`);
  if (statSync(path).isDirectory()) {
    if (!existsSync(join(path, "manifest.json"))) throw new Error(`${path} is a folder without manifest.json: give an app folder or a built image`);
    return buildApp(path, { version }).bytes;
  }
  const bytes = new Uint8Array(readFileSync(path));
  const parsed = parseImage(bytes);
  if ("error" in parsed) throw new Error(`${path} is not an app image: ${parsed.error}`);
  if (parsed.info.version !== version) throw new Error(`${path} is version ${parsed.info.version}, not ${version}`);
  return bytes.subarray(0, parsed.length);
}

export interface OtaPublishInput {
  things: string[];
  image: Uint8Array;
  version: string;
  keyPem: string;
  jobId?: string;
  streamId?: string;
  fileId?: number;
  description?: string;
  certfile?: string;
  stepTimeoutInMinutes?: number;
}

export function otaDocument(o: { streamId: string; fileId: number; size: number; version: string; signature: string; certfile?: string }): Record<string, unknown> {
  return {
    afr_ota: {
      protocols: ["MQTT"],
      streamname: o.streamId,
      files: [{ filepath: "/app", filesize: o.size, fileid: o.fileId, certfile: o.certfile ?? "signer.cert.pem", fileversion: o.version, "sig-sha256-ecdsa": o.signature }],
    },
  };
}

export async function publishOta(base: string, o: OtaPublishInput): Promise<{ jobId: string; streamId: string; document: Record<string, unknown> }> {
  if (!o.things.length) throw new Error("--things: give at least one thing");
  const tag = `${o.version.replace(/\./g, "_")}-${Date.now().toString(36)}`;
  const streamId = o.streamId ?? `ota-${tag}`;
  const jobId = o.jobId ?? `ota-${tag}`;
  const fileId = o.fileId ?? 1;
  const signature = signImage(o.keyPem, o.image);
  for (const t of o.things) await cloudApi(base, "GET", `/things/${encodeURIComponent(t)}`).catch((e: Error) => {
    throw new Error(`thing ${t}: ${e.message}`);
  });
  const sha256 = createHash("sha256").update(o.image).digest("hex");
  await cloudApi(base, "POST", "/streams", { streamId, description: o.description ?? `OTA ${o.version}`, files: [{ fileId, size: o.image.length, sha256 }] });
  for (let i = 0; i * CHUNK < o.image.length; i++)
    await cloudApi(base, "PUT", `/streams/${streamId}/files/${fileId}/chunks/${i}`, { data: Buffer.from(o.image.subarray(i * CHUNK, (i + 1) * CHUNK)).toString("base64") });
  const document = otaDocument({ streamId, fileId, size: o.image.length, version: o.version, signature, certfile: o.certfile });
  await cloudApi<Job>(base, "POST", "/jobs", { jobId, targets: o.things, document, description: `OTA to ${o.version}`, stepTimeoutInMinutes: o.stepTimeoutInMinutes });
  return { jobId, streamId, document };
}

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "REJECTED", "REMOVED", "CANCELED", "TIMED_OUT"]);

/** Polls the job until every execution has ended (or timeoutMs passes); calls onUpdate with the executions each poll. */
export async function watchJob(base: string, jobId: string, onUpdate: (ex: Execution[]) => void, opts: { intervalMs?: number; timeoutMs?: number } = {}): Promise<Execution[]> {
  const until = Date.now() + (opts.timeoutMs ?? 3_600_000);
  for (;;) {
    const { executions } = await cloudApi<{ job: Job; executions: Execution[] }>(base, "GET", `/jobs/${encodeURIComponent(jobId)}`);
    onUpdate(executions);
    if (executions.every((e) => TERMINAL.has(e.status))) return executions;
    if (Date.now() > until) throw new Error(`job ${jobId}: not all executions ended within ${Math.round((opts.timeoutMs ?? 0) / 1000)} s`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
}

/** One line per thing: a bar from statusDetails (received/total), the step, the status. */
export function progressLine(e: Execution, width = 30): string {
  const d = e.statusDetails ?? {};
  const received = Number(d.received);
  const total = Number(d.total);
  let frac = 0;
  if (e.status === "SUCCEEDED") frac = 1;
  else if (total > 0 && received >= 0) frac = Math.min(1, received / total);
  else if (d.step === "verifying" || d.step === "rebooting" || d.step === "confirmed") frac = 1;
  const fill = Math.round(frac * width);
  const bar = "#".repeat(fill) + "-".repeat(width - fill);
  const what = e.status === "IN_PROGRESS" ? (d.step ?? "started") : e.status;
  const reason = d.reason ? `: ${d.reason}` : "";
  return `${e.thingName.padEnd(16)} [${bar}] ${String(Math.round(frac * 100)).padStart(3)}% ${what}${reason}`;
}

export function summaryTable(executions: Execution[]): string {
  const rows = executions.map((e) => [e.thingName, e.status, e.statusDetails?.version ?? "", e.statusDetails?.reason ?? ""]);
  const head = ["thing", "status", "version", "reason"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i])).join("  ").trimEnd();
  return [line(head), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n");
}
