// OtaAgent: the "afr_ota" job handler. Downloads a signed image over an MQTT
// file stream into the inactive partition, resumably; verifies SHA-256 and the
// ECDSA P-256 signature before switching; self-tests the new image on its first
// boot and confirms it or rolls back. Never bricks: the running image is
// untouched until complete(), and a new image that does not confirm itself is
// rolled back by the boot loader.
//
// Durable record (key-value "xsiot-ota"): "state" (JSON, see OtaRecord) and
// "floor" (anti-rollback version). Phases:
//   download  -> blocks in flash are listed in `have` (saved once per window)
//   switching -> verified, the boot partition about to change / changed; restart follows
//   trial     -> the new image booted pending-verify and runs its self-test
//   confirmed -> the new image marked itself valid: job SUCCEEDED
//   failed    -> rolled back or refused: job FAILED with `reason`
//
// The port follows Moddable 8.2.3's esp32 modules as they are:
//  - embedded:update (modules/io/update/esp32/update-esp32.c) erases the target
//    in open() (esp_ota_begin), has no read() and cannot resume. So blocks are
//    written with embedded:storage/flash on the "nextota" partition
//    (modules/io/flash/esp32/flash-esp32.c), each flash sector erased before the
//    first block written into it, and read back from there to verify.
//  - The switch uses Update in append mode ("a": sequential writes, each sector
//    erased as the writes reach it): the first sector is written again as read
//    back, then complete() runs esp_ota_end (which checks the whole image) and
//    esp_ota_set_boot_partition. A cut between that erase and the rewrite leaves
//    the old boot partition in place; the next run re-fetches the first sector.
//  - ECDSA is modules/crypt/etc/ecdsa.js over curve.js and arith/ecp.js (mapped by
//    modules/crypt/tls_common.json); `System` is the global (restart()).
import Update from "embedded:update";
import KeyValue, { type Storage } from "embedded:storage/key-value";
import Flash, { type Flash as Partition } from "embedded:storage/flash";
import { Digest } from "crypt";
import ECDSA from "ecdsa";
import Curve from "curve";
import ECPoint from "ecp";
import { ota, resetReason } from "xsiot/native/esp32";
import { deviceTimers } from "../timer/timers";
import { utf8String } from "../text/utf8";
import { decode, CborError } from "../cbor/index";
import type { MqttConnection } from "../mqtt/types";
import type { JobContext, JobHandler } from "../jobs/types";
import { parseOtaDocument, type OtaFile } from "./document";
import { StreamDownload } from "./download";
import { compareVersions, isVersion } from "./version";

export interface OtaAgentOptions {
  mqtt: MqttConnection;
  thingName: string;
  /** Running image version (the app's mc/config version). */
  version: string;
  /** Code-signing public key: uncompressed P-256 point (65 bytes). */
  publicKey: ArrayBuffer | Uint8Array;
  /** Stream block size, default 4096. */
  blockSize?: number;
  /** Blocks per request, default 32 (1 behaves like FreeRTOS OTA's default). */
  window?: number;
  /** Wait for a window before asking again for its missing blocks, default 4000 ms. */
  requestTimeoutMs?: number;
  /** Requests per window before the stream is declared dead, default 5. */
  maxTries?: number;
  /** Minimum ms between progress reports, default 2000. */
  progressEveryMs?: number;
  /** First-boot self-test; default: a shadow get round trip over `mqtt`. Reject (or time out) to roll back. */
  selfTest?: () => Promise<void>;
  selfTestTimeoutMs?: number;
  /** Size of the inactive app partition; default: embedded:storage/flash status() of "nextota". */
  partitionSize?: number;
  /** Called instead of System.restart() (tests). */
  restart?: () => void;
  log?: (message: string) => void;
}

export interface OtaRecord {
  jobId: string;
  phase: "download" | "switching" | "trial" | "confirmed" | "failed";
  version: string;
  sig: string;
  size: number;
  blockSize: number;
  fileId: number;
  /** Hex bitmap of blocks in flash. */
  have?: string;
  attempts?: number;
  reason?: string;
  /** Bytes fetched over the stream in total, across resumes (diagnostics, bench). */
  fetched?: number;
}

const KV_PATH = "xsiot-ota";
/** Switches to one image before the job fails (power cuts during the trial boot retry). */
const MAX_ATTEMPTS = 3;
const hex = (b: Uint8Array) => {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
};
const unhex = (s: string | undefined, n: number): Uint8Array | undefined => {
  if (typeof s !== "string" || s.length !== n * 2 || !/^[0-9a-f]*$/.test(s)) return undefined;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
};
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class OtaAgent {
  private readonly o: OtaAgentOptions;
  private readonly kv: Storage;
  /** Settles when a first boot of a new image has been confirmed or rolled back (or at once on other boots). */
  readonly booted: Promise<void>;
  /** The JobHandler to register for the "afr_ota" operation. */
  readonly handler: JobHandler;

  constructor(options: OtaAgentOptions) {
    if (!isVersion(options.version)) throw new RangeError(`OtaAgent: version "${options.version}" is not a version string`);
    const key = options.publicKey instanceof Uint8Array ? options.publicKey : new Uint8Array(options.publicKey);
    if (key.length !== 65 || key[0] !== 4) throw new RangeError("OtaAgent: publicKey must be a 65-byte uncompressed P-256 point");
    this.o = options;
    this.kv = KeyValue.open({ path: KV_PATH, format: "string" });
    this.handler = (job) => this.handle(job);
    this.booted = this.boot();
  }

  // ------------------------------------------------------------------ record

  private log(m: string): void {
    (this.o.log ?? ((s: string) => trace(`ota: ${s}\n`)))(m);
  }
  record(): OtaRecord | undefined {
    const text = this.kv.read("state");
    if (typeof text !== "string" || text.length > 4096) return undefined;
    try {
      const r = JSON.parse(text) as OtaRecord;
      return typeof r === "object" && r !== null && typeof r.jobId === "string" && typeof r.phase === "string" && isVersion(r.version) ? r : undefined;
    } catch {
      return undefined;
    }
  }
  private save(r: OtaRecord): void {
    this.kv.write("state", JSON.stringify(r));
  }
  private clear(): void {
    this.kv.delete("state");
  }
  /** max(stored anti-rollback floor, running version). */
  floor(): string {
    const f = this.kv.read("floor");
    const stored = typeof f === "string" && isVersion(f) ? f : "0";
    return compareVersions(stored, this.o.version) > 0 ? stored : this.o.version;
  }
  private raiseFloor(v: string): void {
    const f = this.kv.read("floor");
    if (typeof f !== "string" || !isVersion(f) || compareVersions(v, f) > 0) this.kv.write("floor", v);
  }

  // ------------------------------------------------------------------ first boot

  /** Resolves a pending-verify image (self-test, confirm or roll back) and notes rollbacks. Runs once, at construction. */
  private async boot(): Promise<void> {
    const r = this.record();
    const state = ota.state();
    if (state === "pending-verify") {
      const rec: OtaRecord = r && r.version === this.o.version ? r : { jobId: r?.jobId ?? "", phase: "trial", version: this.o.version, sig: "", size: 0, blockSize: 0, fileId: 0 };
      this.save({ ...rec, phase: "trial" });
      this.log(`${this.o.version} is pending verification: self-test`);
      try {
        await this.runSelfTest();
      } catch (e) {
        const reason = `self-test of ${this.o.version} failed: ${message(e)}; rolled back`;
        this.log(reason);
        this.save({ ...rec, phase: "failed", reason });
        ota.rollback();
        return;
      }
      ota.markValid();
      this.raiseFloor(this.o.version);
      this.save({ ...rec, phase: "confirmed" });
      this.log(`${this.o.version} confirmed`);
      return;
    }
    if (!r) return;
    if ((r.phase === "switching" || r.phase === "trial") && r.version === this.o.version) {
      // Marked valid, then power went before the record said so.
      this.raiseFloor(r.version);
      this.save({ ...r, phase: "confirmed" });
    } else if ((r.phase === "trial" || r.phase === "switching") && r.version !== this.o.version) {
      // Back on the old image after a switch. A crash (panic, watchdog) of the new
      // image fails the job; a power cut (before complete(), or during the trial)
      // leaves it to be verified and switched again, at most MAX_ATTEMPTS times.
      const rr = resetReason();
      if (rr === "panic" || rr === "watchdog" || (r.attempts ?? 0) >= MAX_ATTEMPTS)
        this.save({ ...r, phase: "failed", reason: `new image ${r.version} did not confirm itself (${rr} reset; boot loader rolled back to ${this.o.version})` });
    }
  }

  private runSelfTest(): Promise<void> {
    const ms = this.o.selfTestTimeoutMs ?? 15000;
    const test = this.o.selfTest ?? (() => this.shadowRoundTrip());
    return new Promise<void>((resolve, reject) => {
      const timer = deviceTimers.setTimeout(() => reject(new Error(`no result within ${ms} ms`)), ms);
      let p: Promise<void>;
      try {
        p = Promise.resolve(test());
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(
        () => {
          deviceTimers.clearTimeout(timer);
          resolve();
        },
        (e) => {
          deviceTimers.clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  /** Default self-test: the cloud answers a shadow get (accepted, or rejected for a thing without a shadow). */
  private async shadowRoundTrip(): Promise<void> {
    const base = `$aws/things/${this.o.thingName}/shadow/get`;
    const token = `ota-${Date.now() % 1e9}`;
    let done: (() => void) | undefined;
    const answered = new Promise<void>((resolve) => (done = resolve));
    const off = this.o.mqtt.route(`${base}/+`, (_topic, payload) => {
      try {
        const m = JSON.parse(utf8String(payload)) as { clientToken?: string };
        if (m.clientToken === token) done?.();
      } catch {
        // not ours
      }
    });
    try {
      await this.o.mqtt.subscribe(`${base}/+`, { qos: 1 });
      await this.o.mqtt.publish(base, JSON.stringify({ clientToken: token }), { qos: 1 });
      await answered;
    } finally {
      off();
    }
  }

  // ------------------------------------------------------------------ the job

  private partitionSize(): number {
    if (this.o.partitionSize) return this.o.partitionSize;
    try {
      const f = Flash.open({ path: "nextota" });
      const size = f.status().size;
      f.close();
      return size;
    } catch {
      return 1536 * 1024;
    }
  }

  async handle(job: JobContext): Promise<void> {
    await this.booted;
    const jobId = job.execution.jobId;
    let r = this.record();
    if (r && r.jobId === jobId) {
      if (r.phase === "confirmed") {
        this.clear();
        return job.succeed({ version: r.version, step: "confirmed" });
      }
      if (r.phase === "failed") {
        this.clear();
        return job.fail(r.reason ?? "update failed", { version: r.version });
      }
    }
    const parsed = parseOtaDocument(job.execution.document, { partitionSize: this.partitionSize(), floor: this.floor() });
    if (!parsed.ok) {
      this.log(`job ${jobId} refused: ${parsed.reason}`);
      if (r && r.jobId === jobId) this.clear();
      return parsed.status === "REJECTED" ? job.reject(parsed.reason) : job.fail(parsed.reason);
    }
    const file = parsed.file;
    const blockSize = this.o.blockSize ?? 4096;
    const same = r && r.jobId === jobId && r.sig === file.signatureText && r.size === file.fileSize && r.blockSize === blockSize && r.fileId === file.fileId && r.version === file.version;
    let part: Partition | undefined;
    try {
      part = Flash.open({ path: "nextota" });
      const sector = part.status().blockLength;
      if (same) this.log(`job ${jobId}: resuming ${file.version} (${r!.phase})`);
      else {
        this.clear();
        r = { jobId, phase: "download", version: file.version, sig: file.signatureText, size: file.fileSize, blockSize, fileId: file.fileId, fetched: 0 };
        this.save(r);
        this.log(`job ${jobId}: downloading ${file.version} (${file.fileSize} bytes) from stream ${file.streamName}`);
      }
      for (let pass = 0; ; pass++) {
        if (r!.phase === "download") {
          const outcome = await this.download(job, file, part, sector, r!);
          if (outcome !== "done") {
            this.clear();
            if (outcome === "canceled") return this.log(`job ${jobId} canceled`);
            return job.fail(outcome, { version: file.version });
          }
        }
        job.progress({ step: "verifying", version: file.version }).catch(() => {});
        const bad = this.verify(part, file);
        if (!bad) break;
        if (r!.phase === "switching" && pass === 0) {
          // A cut during the switch can leave the first sector erased: fetch it again.
          const blocks = Math.ceil(file.fileSize / blockSize);
          const have = unhex(r!.have, (blocks + 7) >> 3) ?? new Uint8Array((blocks + 7) >> 3);
          for (let b = 0; b * blockSize < sector && b < blocks; b++) have[b >> 3] &= ~(1 << (b & 7));
          r = { ...(this.record() ?? r!), phase: "download", have: hex(have) };
          this.save(r);
          this.log(`job ${jobId}: image incomplete after an interrupted switch: fetching the first sector again`);
          continue;
        }
        this.clear();
        this.log(`job ${jobId}: ${bad}`);
        return job.fail(bad, { version: file.version });
      }
      if (job.canceled) {
        this.clear();
        return;
      }
      const rec = this.record() ?? r!;
      this.save({ ...rec, phase: "switching", attempts: (rec.attempts ?? 0) + 1 });
      await job.progress({ step: "rebooting", version: file.version });
      this.switchTo(part, Math.min(sector, file.fileSize));
      this.log(`job ${jobId}: ${file.version} verified and set to boot; restarting`);
    } catch (e) {
      this.clear();
      if (job.canceled) return this.log(`job ${jobId} canceled`);
      return job.fail(`update failed: ${message(e)}`, { version: file.version });
    } finally {
      part?.close();
    }
    (this.o.restart ?? (() => System.restart()))();
  }

  /**
   * Makes the verified image the boot partition through embedded:update: append
   * mode rewrites the first `head` bytes (esp_ota_write erases that sector first),
   * complete() checks the image and sets it to boot (pending verify).
   */
  private switchTo(part: Partition, head: number): void {
    const first = part.read(head, 0);
    const update = Update.open({ partition: part, mode: "a" });
    try {
      update.write(first);
      update.complete();
    } finally {
      update.close(); // after complete() a no-op; otherwise esp_ota_abort
    }
  }

  /** Reads the image back from flash, in order: SHA-256, then the signature. A reason on failure. */
  private verify(part: Partition, file: OtaFile): string | undefined {
    const digest = new Digest("SHA256");
    const chunk = 4096;
    for (let at = 0; at < file.fileSize; at += chunk) digest.write(part.read(Math.min(chunk, file.fileSize - at), at));
    const hash = digest.close();
    const key = this.o.publicKey instanceof Uint8Array ? this.o.publicKey : new Uint8Array(this.o.publicKey);
    const sig = file.signature.slice().buffer;
    let ok = false;
    try {
      // Public point from the uncompressed key (0x04 || X || Y, checked in the constructor).
      const q = new ECPoint(BigInt(`0x${hex(key.subarray(1, 33))}`), BigInt(`0x${hex(key.subarray(33, 65))}`));
      ok = new ECDSA(q, new Curve("secp256r1"), false).verify(hash, sig, true);
    } catch (e) {
      return `signature check failed: ${message(e)}`;
    }
    return ok ? undefined : "signature does not verify: image is not signed by the code-signing key, or was altered";
  }

  private download(job: JobContext, file: OtaFile, part: Partition, sector: number, rec: OtaRecord): Promise<"done" | "canceled" | string> {
    const mqtt = this.o.mqtt;
    const blocks = Math.ceil(file.fileSize / rec.blockSize);
    const dl = new StreamDownload({
      fileId: file.fileId,
      fileSize: file.fileSize,
      blockSize: rec.blockSize,
      window: this.o.window ?? 32,
      maxTries: this.o.maxTries ?? 5,
      have: unhex(rec.have, (blocks + 7) >> 3),
      clientToken: jobId8(job.execution.jobId),
    });
    const base = `$aws/things/${this.o.thingName}/streams/${file.streamName}`;
    const timeoutMs = this.o.requestTimeoutMs ?? 4000;
    const progressEvery = this.o.progressEveryMs ?? 2000;
    const fetchedBefore = rec.fetched ?? 0;
    let lastProgress = -Infinity;
    return new Promise((resolve) => {
      let timer: unknown;
      let finished = false;
      const offs: (() => void)[] = [];
      const finish = (v: "done" | "canceled" | string) => {
        if (finished) return;
        finished = true;
        deviceTimers.clearTimeout(timer);
        for (const off of offs) off();
        mqtt.unsubscribe([`${base}/data/cbor`, `${base}/rejected/cbor`]).catch(() => {});
        resolve(v);
      };
      const persist = () => {
        const now = this.record() ?? rec;
        this.save({ ...now, phase: "download", have: hex(dl.have), fetched: fetchedBefore + dl.bytesReceived });
      };
      const ask = (retry: boolean) => {
        if (finished) return;
        if (job.canceled) return finish("canceled");
        const req = dl.request(retry);
        if (!req) {
          if (dl.done) return finish("done");
          return finish(`stream ${file.streamName} stopped answering: blocks ${dl.received}/${dl.blocks}, ${dl.triesOfWindow} requests unanswered`);
        }
        mqtt.publish(`${base}/get/cbor`, req.payload, { qos: 0 }).catch(() => {});
        deviceTimers.clearTimeout(timer);
        timer = deviceTimers.setTimeout(() => ask(true), timeoutMs);
      };
      offs.push(
        mqtt.route(`${base}/data/cbor`, (_t, payload) => {
          if (finished) return;
          let msg: unknown;
          try {
            msg = decode(new Uint8Array(payload), { maxDepth: 2, maxItems: 16, maxLength: rec.blockSize + 256 });
          } catch (e) {
            return finish(`stream block is not valid CBOR: ${e instanceof CborError ? e.message : message(e)}`);
          }
          const ev = dl.onBlock(msg);
          if (ev.kind === "error") return finish(ev.reason);
          if (ev.kind === "duplicate") return;
          try {
            writeBlock(part, sector, dl.have, ev.block, rec.blockSize, ev.offset, ev.bytes);
          } catch (e) {
            return finish(`flash write failed: ${message(e)}`);
          }
          if (!ev.windowDone) return;
          persist();
          if (job.canceled) return finish("canceled");
          const now = Date.now();
          if (now - lastProgress >= progressEvery || ev.done) {
            lastProgress = now;
            job.progress({ step: "download", version: file.version, received: String(dl.received), total: String(dl.blocks) }).catch(() => {});
          }
          if (ev.done) return finish("done");
          ask(false);
        }),
        mqtt.route(`${base}/rejected/cbor`, (_t, payload) => {
          if (finished) return;
          let why = "";
          try {
            const m = decode(new Uint8Array(payload), { maxDepth: 2, maxItems: 16, maxLength: 1024 }) as Record<string, unknown>;
            why = `${String(m.o ?? "")} ${String(m.m ?? "")}`.trim();
          } catch {
            why = "(unreadable rejection)";
          }
          finish(`stream ${file.streamName} rejected the request: ${why.slice(0, 200)}`);
        }),
      );
      mqtt.subscribe([`${base}/data/cbor`, `${base}/rejected/cbor`], { qos: 0 }).then(
        () => ask(false),
        (e) => finish(`cannot subscribe to stream ${file.streamName}: ${message(e)}`),
      );
    });
  }
}

/** A short client token from the job id. */
function jobId8(jobId: string): string {
  return jobId.slice(0, 32);
}

/**
 * Writes stream block `block` at `offset`, first erasing each flash sector it
 * covers that holds no other block already written (per `have`, which has this
 * block's bit set). Blocks are the same bytes on every resume of a job, so a
 * block written again over itself, without an erase, is harmless.
 */
function writeBlock(part: Partition, sector: number, have: Uint8Array, block: number, blockSize: number, offset: number, bytes: Uint8Array): void {
  const last = Math.floor((offset + bytes.length - 1) / sector);
  const blocks = have.length << 3;
  for (let s = Math.floor(offset / sector); s <= last; s++) {
    let used = false;
    const end = Math.min(blocks - 1, Math.floor(((s + 1) * sector - 1) / blockSize));
    for (let b = Math.floor((s * sector) / blockSize); b <= end && !used; b++) used = b !== block && (have[b >> 3] & (1 << (b & 7))) !== 0;
    if (!used) part.eraseBlock(s);
  }
  part.write(bytes, offset);
}
