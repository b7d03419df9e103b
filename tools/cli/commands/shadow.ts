// `xsiot shadow get|update|delete <thing>`: a thing's classic or named shadow in the running cloud.
import { parseCommandArgs, UsageError } from "../args.ts";
import { cloudApi, parseJsonArg, resolveCloudUrl } from "../../cloud/client.ts";

export const summary = "get, update or delete a thing's shadow (classic or --name N) in the running cloud";

const HELP = `usage: xsiot shadow <get|update|delete> <thing> [options]

  get <thing>                          print the shadow document (with delta)
  update <thing> --desired JSON        set desired state (null values delete keys)
  update <thing> --reported JSON       set reported state
  update <thing> --state JSON          a full {"desired":..,"reported":..} state node
  delete <thing>

options:
  --name N      named shadow (default: the classic shadow)
  --version V   expected version (update/delete; 409 on mismatch)
  --cloud URL   HTTP API of the cloud (default: from <dir>/cloud.json)
  --dir D       cloud state directory (default .xsiot)
  -h, --help    this text`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
        name: { type: "string" },
        desired: { type: "string" },
        reported: { type: "string" },
        state: { type: "string" },
        version: { type: "string" },
        cloud: { type: "string" },
        dir: { type: "string" },
      }, HELP, true);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [sub, thing, ...extra] = positionals;
  if (!sub || !["get", "update", "delete"].includes(sub) || !thing || extra.length) {
    throw new UsageError(`bad arguments`, HELP);
  }
  let version: number | undefined;
  if (values.version !== undefined) {
    version = Number(values.version);
    if (!Number.isInteger(version) || version < 0) {
      console.error("xsiot shadow: --version must be a non-negative integer");
      return 2;
    }
  }
  const base = resolveCloudUrl(values);
  const path = `/things/${encodeURIComponent(thing)}/shadow${values.name ? `?name=${encodeURIComponent(values.name)}` : ""}`;
  if (sub === "get") console.log(JSON.stringify(await cloudApi(base, "GET", path), null, 2));
  else if (sub === "delete") console.log(JSON.stringify(await cloudApi(base, "DELETE", path, version === undefined ? undefined : { version }), null, 2));
  else {
    let state: Record<string, unknown>;
    if (values.state !== undefined) state = parseJsonArg("--state", values.state) as Record<string, unknown>;
    else {
      state = {};
      if (values.desired !== undefined) state.desired = parseJsonArg("--desired", values.desired);
      if (values.reported !== undefined) state.reported = parseJsonArg("--reported", values.reported);
      if (!Object.keys(state).length) {
        console.error("xsiot shadow update: give --desired JSON, --reported JSON or --state JSON");
        return 2;
      }
    }
    console.log(JSON.stringify(await cloudApi(base, "POST", path, { state, ...(version === undefined ? {} : { version }) }), null, 2));
  }
  return 0;
}
