// `xsiot defender alarms|profiles|profile|metrics`: Device Defender in the running cloud.
import { readFileSync } from "node:fs";
import { parseCommandArgs, UsageError } from "../args.ts";
import { cloudApi, parseJsonArg, resolveCloudUrl } from "../../cloud/client.ts";
import type { Alarm, SecurityProfile, StoredReport } from "../../cloud/index.ts";

export const summary = "Device Defender: alarms, security profiles and the metrics things report";

const HELP = `usage: xsiot defender <alarms|profiles|profile|metrics> [options]

  alarms [--thing T] [--all]        active alarms (--all: cleared ones too)
  profiles                          security profiles
  profile put <name> --file F       create or replace a profile ({targets, behaviors}) from JSON
  profile delete <name>
  metrics <thing>                   the thing's stored reports and its cloud-side counts (last 5 min)

options:
  --cloud URL   HTTP API of the cloud (default: from <dir>/cloud.json)
  --dir D       cloud state directory (default .xsiot)
  -h, --help    this text`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, { thing: { type: "string" }, all: { type: "boolean" }, file: { type: "string" }, cloud: { type: "string" }, dir: { type: "string" } }, HELP, true);
  if (!parsed) return 0;
  const { values: v, positionals } = parsed;
  const [sub, a1, a2, ...extra] = positionals;
  if (extra.length) throw new UsageError("too many arguments", HELP);
  const base = resolveCloudUrl(v);
  switch (sub) {
    case "alarms": {
      const q = new URLSearchParams();
      if (v.thing) q.set("thing", v.thing);
      if (v.all) q.set("all", "true");
      const { alarms } = await cloudApi<{ alarms: Alarm[] }>(base, "GET", `/defender/alarms?${q}`);
      if (!alarms.length) console.log(v.all ? "(no alarms)" : "(no active alarms)");
      for (const x of alarms)
        console.log(
          `${x.thingName.padEnd(20)} ${`${x.profile}/${x.behavior}`.padEnd(40)} ${x.metric} = ${x.value} (expected ${x.criteria.comparisonOperator} ${x.criteria.value.count}${x.criteria.durationSeconds ? ` per ${x.criteria.durationSeconds} s` : ""})  ${x.state} since ${new Date(x.raisedAt).toISOString()}`,
        );
      return 0;
    }
    case "profiles": {
      const { profiles } = await cloudApi<{ profiles: SecurityProfile[] }>(base, "GET", "/defender/profiles");
      for (const p of profiles) console.log(`${p.name.padEnd(24)} targets ${p.targets.join(",")}: ${p.behaviors.map((b) => `${b.name} (${b.metric} ${b.criteria.comparisonOperator} ${b.criteria.value.count})`).join("; ")}`);
      return 0;
    }
    case "profile": {
      if (!a2 || (a1 !== "put" && a1 !== "delete")) throw new UsageError("profile put|delete <name>", HELP);
      if (a1 === "delete") {
        await cloudApi(base, "DELETE", `/defender/profiles/${encodeURIComponent(a2)}`);
        console.log(`deleted security profile ${a2}`);
        return 0;
      }
      if (!v.file) throw new UsageError("--file F is required", HELP);
      const body = parseJsonArg(v.file, readFileSync(v.file, "utf8"));
      const p = await cloudApi<SecurityProfile>(base, "PUT", `/defender/profiles/${encodeURIComponent(a2)}`, body);
      console.log(`security profile ${p.name}: ${p.behaviors.length} behaviors for ${p.targets.join(",")}`);
      return 0;
    }
    case "metrics": {
      if (!a1) throw new UsageError("metrics <thing>", HELP);
      const r = await cloudApi<{ reports: StoredReport[]; cloudMetrics300s: Record<string, number> }>(base, "GET", `/defender/things/${encodeURIComponent(a1)}`);
      console.log(JSON.stringify(r, null, 2));
      return 0;
    }
    default:
      throw new UsageError("bad arguments", HELP);
  }
}
