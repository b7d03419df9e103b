// `xsiot ota keys|sign|publish`: code-signing keys, image signatures, and OTA
// updates of things through the running cloud (stream + afr_ota job + progress).
import { writeFileSync } from "node:fs";
import { parseCommandArgs, UsageError } from "../args.ts";
import { resolveCloudUrl } from "../../cloud/client.ts";
import { loadImage, progressLine, publishOta, summaryTable, watchJob } from "../../ota/publish.ts";
import { KEY_FILES, readPem, signImage, writeSigningKey } from "../../ota/signing.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseImage } from "../../sim/image.ts";

export const summary = "OTA: code-signing keys, image signatures, publish signed firmware to things";

const HELP = `usage: xsiot ota <keys|sign|publish> [options]

  keys [--dir D] [--force]
      create a P-256 code-signing key and certificate: D/${KEY_FILES.key} (0600),
      D/${KEY_FILES.cert}, D/${KEY_FILES.pub} (the device's publicKey, base64 point). D defaults to .xsiot/ota
  sign --key signer.key.pem <image> [--out FILE]
      print (or write) the base64 DER ECDSA-SHA256 signature of a built image file
  publish --things T1,T2 --image <app dir | built image> --version 1.2.0 [--key K] [--cloud URL]
          [--job-id J] [--stream-id S] [--step-timeout MIN] [--timeout SEC] [--no-wait]
      upload the signed image as an MQTT stream, create the afr_ota job, and show a
      progress bar per thing until every execution has ended, then a summary table
      (exit status 1 unless all SUCCEEDED)

options:
  --cloud URL   HTTP API of the cloud (default: from <dir>/cloud.json)
  --dir D       for keys: where to write; for publish: cloud state directory (default .xsiot)
  -h, --help    this text`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
        dir: { type: "string" },
        force: { type: "boolean" },
        key: { type: "string" },
        out: { type: "string" },
        things: { type: "string" },
        image: { type: "string" },
        version: { type: "string" },
        cloud: { type: "string" },
        "job-id": { type: "string" },
        "stream-id": { type: "string" },
        "step-timeout": { type: "string" },
        timeout: { type: "string" },
        "no-wait": { type: "boolean" },
      }, HELP, true);
  if (!parsed) return 0;
  const { values: v, positionals } = parsed;
  const [sub, ...rest] = positionals;
  switch (sub) {
    case "keys": {
      if (rest.length) return usage("keys takes no positional arguments");
      const dir = v.dir ?? ".xsiot/ota";
      const k = await writeSigningKey(dir, { force: v.force });
      console.log(`code-signing key: ${k.paths.key} (keep it secret)\ncertificate:      ${k.paths.cert}\ndevice publicKey: ${k.publicKey}`);
      return 0;
    }
    case "sign": {
      if (rest.length !== 1) return usage("sign needs exactly one image file");
      if (!v.key) return usage("sign needs --key signer.key.pem");
      const image = new Uint8Array(readFileSync(rest[0]));
      const parsedImage = parseImage(image);
      if ("error" in parsedImage) throw new Error(`${rest[0]} is not an app image: ${parsedImage.error}`);
      const sig = signImage(readPem(v.key, "signing key"), image.subarray(0, parsedImage.length));
      if (v.out) {
        writeFileSync(v.out, sig + "\n");
        console.log(`signature written to ${v.out}`);
      } else console.log(sig);
      return 0;
    }
    case "publish": {
      if (rest.length) return usage("publish takes no positional arguments");
      if (!v.things) return usage("publish needs --things T1,T2");
      if (!v.image) return usage("publish needs --image <app dir or built image>");
      if (!v.version) return usage("publish needs --version X.Y.Z");
      const things = v.things.split(",").map((t) => t.trim()).filter(Boolean);
      const keyPath = v.key ?? join(".xsiot/ota", KEY_FILES.key);
      const keyPem = readPem(keyPath, "signing key");
      const image = loadImage(v.image, v.version);
      const base = resolveCloudUrl({ cloud: v.cloud, dir: v.dir });
      let stepTimeoutInMinutes: number | undefined;
      if (v["step-timeout"] !== undefined) {
        stepTimeoutInMinutes = Number(v["step-timeout"]);
        if (!Number.isInteger(stepTimeoutInMinutes)) return usage("--step-timeout must be an integer number of minutes");
      }
      const { jobId, streamId } = await publishOta(base, { things, image, version: v.version, keyPem, jobId: v["job-id"], streamId: v["stream-id"], stepTimeoutInMinutes });
      console.log(`published ${v.version} (${image.length} bytes) as stream ${streamId}, job ${jobId} for ${things.join(", ")}`);
      if (v["no-wait"]) return 0;
      const tty = process.stdout.isTTY;
      let drawn = 0;
      let last = "";
      const final = await watchJob(
        base,
        jobId,
        (executions) => {
          const lines = executions.map((e) => progressLine(e));
          const text = lines.join("\n");
          if (text === last) return;
          last = text;
          if (tty && drawn) process.stdout.write(`\x1b[${drawn}A\x1b[J`);
          console.log(text);
          drawn = lines.length;
        },
        { timeoutMs: v.timeout ? Number(v.timeout) * 1000 : undefined },
      );
      console.log("\n" + summaryTable(final));
      return final.every((e) => e.status === "SUCCEEDED") ? 0 : 1;
    }
    default:
      return usage(sub ? `unknown subcommand "${sub}"` : "missing subcommand");
  }
}

function usage(message: string): number {
  throw new UsageError(`${message}`, HELP);
}
