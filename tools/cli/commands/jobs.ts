// `xsiot jobs create|list|describe|cancel|delete`: AWS-IoT-style jobs in the running cloud.
import { readFileSync } from "node:fs";
import { parseCommandArgs, UsageError } from "../args.ts";
import { cloudApi, parseJsonArg, resolveCloudUrl } from "../../cloud/client.ts";
import type { Execution, Job } from "../../cloud/index.ts";

export const summary = "create, list, describe, cancel and delete jobs in the running cloud";

const HELP = `usage: xsiot jobs <create|list|describe|cancel|delete> [options]

  create <jobId> --targets t1,t2 (--document JSON | --document-file F) [--step-timeout MIN] [--description S]
  list
  describe <jobId> [--thing T]      the job and its executions (or one thing's execution)
  cancel <jobId> [--force] [--comment S]   QUEUED executions (and IN_PROGRESS with --force) become CANCELED
  delete <jobId> [--force]          pending executions become REMOVED

options:
  --cloud URL   HTTP API of the cloud (default: from <dir>/cloud.json)
  --dir D       cloud state directory (default .xsiot)
  -h, --help    this text`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
        targets: { type: "string" },
        document: { type: "string" },
        "document-file": { type: "string" },
        "step-timeout": { type: "string" },
        description: { type: "string" },
        thing: { type: "string" },
        force: { type: "boolean" },
        comment: { type: "string" },
        cloud: { type: "string" },
        dir: { type: "string" },
      }, HELP, true);
  if (!parsed) return 0;
  const { values: v, positionals } = parsed;
  const [sub, jobId, ...extra] = positionals;
  if (!sub || !["create", "list", "describe", "cancel", "delete"].includes(sub) || (sub !== "list" && !jobId) || extra.length) {
    throw new UsageError(`bad arguments`, HELP);
  }
  const base = resolveCloudUrl(v);
  const jp = `/jobs/${encodeURIComponent(jobId ?? "")}`;
  switch (sub) {
    case "create": {
      if (!v.targets) {
        console.error("xsiot jobs create: --targets t1,t2 is required");
        return 2;
      }
      if ((v.document === undefined) === (v["document-file"] === undefined)) {
        console.error("xsiot jobs create: give exactly one of --document JSON or --document-file F");
        return 2;
      }
      const document = v.document !== undefined ? parseJsonArg("--document", v.document) : parseJsonArg(v["document-file"]!, readFileSync(v["document-file"]!, "utf8"));
      let stepTimeoutInMinutes: number | undefined;
      if (v["step-timeout"] !== undefined) {
        stepTimeoutInMinutes = Number(v["step-timeout"]);
        if (!Number.isInteger(stepTimeoutInMinutes)) {
          console.error("xsiot jobs create: --step-timeout must be an integer number of minutes");
          return 2;
        }
      }
      const targets = v.targets.split(",").map((s) => s.trim()).filter(Boolean);
      const job = await cloudApi<Job>(base, "POST", "/jobs", { jobId, targets, document, description: v.description, stepTimeoutInMinutes });
      console.log(`created job ${job.jobId} for ${job.targets.join(", ")}`);
      return 0;
    }
    case "list": {
      const { jobs } = await cloudApi<{ jobs: Job[] }>(base, "GET", "/jobs");
      if (!jobs.length) console.log("(no jobs)");
      for (const j of jobs) console.log(`${j.jobId.padEnd(24)} ${j.status.padEnd(12)} ${j.targets.join(",")}`);
      return 0;
    }
    case "describe": {
      if (v.thing) console.log(JSON.stringify(await cloudApi<Execution>(base, "GET", `${jp}/things/${encodeURIComponent(v.thing)}`), null, 2));
      else console.log(JSON.stringify(await cloudApi(base, "GET", jp), null, 2));
      return 0;
    }
    case "cancel": {
      const job = await cloudApi<Job>(base, "POST", `${jp}/cancel`, { force: v.force === true, comment: v.comment });
      console.log(`job ${job.jobId} ${job.status}`);
      return 0;
    }
    default: {
      const job = await cloudApi<Job>(base, "DELETE", `${jp}${v.force ? "?force=true" : ""}`);
      console.log(`job ${job.jobId} ${job.status}`);
      return 0;
    }
  }
}
