// The AWS OTA job document ({"afr_ota": {...}}), validated before anything is
// written. Hostile input: every field is type- and length-checked.
//
// Version: xsiot reads the image version from files[0].fileversion (a string
// such as "1.2.0", see ./version); AWS leaves the field to the application.
import { base64Decode } from "./base64";
import { compareVersions, isVersion } from "./version";

export interface OtaFile {
  streamName: string;
  fileId: number;
  fileSize: number;
  filePath: string;
  certFile: string;
  version: string;
  /** DER ECDSA P-256 signature of the SHA-256 of the image. */
  signature: Uint8Array;
  /** The base64 text of the signature (to recognise the same image on resume). */
  signatureText: string;
}

export type ParseResult = { ok: true; file: OtaFile } | { ok: false; status: "FAILED" | "REJECTED"; reason: string };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown, max: number): v is string => typeof v === "string" && v.length > 0 && v.length <= max;
const STREAM = /^[a-zA-Z0-9_-]{1,128}$/;
/** DER ECDSA P-256 signatures are 8 to 72 bytes. */
const MAX_SIG = 72;

export interface ParseLimits {
  /** Size of the inactive app partition: larger images are refused. */
  partitionSize: number;
  /** Versions at or below this are refused (REJECTED): max(anti-rollback floor, running version). */
  floor: string;
}

export function parseOtaDocument(document: unknown, limits: ParseLimits): ParseResult {
  const fail = (reason: string): ParseResult => ({ ok: false, status: "FAILED", reason });
  if (!isObj(document) || !isObj(document.afr_ota)) return fail("job document has no afr_ota object");
  const ota = document.afr_ota;
  const protocols = ota.protocols;
  if (!Array.isArray(protocols) || protocols.length > 8) return fail("afr_ota.protocols must be an array");
  if (!protocols.some((p) => p === "MQTT")) return fail('afr_ota.protocols does not include "MQTT"');
  if (!str(ota.streamname, 128) || !STREAM.test(ota.streamname)) return fail("afr_ota.streamname must be 1-128 of [a-zA-Z0-9_-]");
  const files = ota.files;
  if (!Array.isArray(files) || files.length < 1 || files.length > 8) return fail("afr_ota.files must be a non-empty array");
  const f = files[0];
  if (!isObj(f)) return fail("afr_ota.files[0] must be an object");
  if (!str(f.filepath, 255)) return fail("files[0].filepath must be a non-empty string");
  if (typeof f.filesize !== "number" || !Number.isInteger(f.filesize) || f.filesize <= 0) return fail("files[0].filesize must be a positive integer");
  if (f.filesize > limits.partitionSize) return fail(`image of ${f.filesize} bytes does not fit the ${limits.partitionSize}-byte partition`);
  if (typeof f.fileid !== "number" || !Number.isInteger(f.fileid) || f.fileid < 0 || f.fileid > 255) return fail("files[0].fileid must be an integer 0-255");
  if (!str(f.certfile, 255)) return fail("files[0].certfile must be a non-empty string");
  const sigText = f["sig-sha256-ecdsa"];
  if (sigText === undefined) return fail("files[0] has no sig-sha256-ecdsa (unsigned image)");
  if (!str(sigText, 128)) return fail("files[0].sig-sha256-ecdsa must be a base64 string");
  const signature = base64Decode(sigText, MAX_SIG);
  if (!signature || signature.length < 8 || signature[0] !== 0x30) return fail("files[0].sig-sha256-ecdsa is not a base64 DER signature");
  if (!isVersion(f.fileversion)) return fail('files[0].fileversion must be a version string like "1.2.0"');
  if (compareVersions(f.fileversion, limits.floor) <= 0)
    return { ok: false, status: "REJECTED", reason: `version ${f.fileversion} is not newer than ${limits.floor} (anti-rollback)` };
  return {
    ok: true,
    file: {
      streamName: ota.streamname,
      fileId: f.fileid,
      fileSize: f.filesize,
      filePath: f.filepath,
      certFile: f.certfile,
      version: f.fileversion,
      signature,
      signatureText: sigText,
    },
  };
}
