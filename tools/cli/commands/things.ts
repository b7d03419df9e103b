// `xsiot things`: the running cloud's thing registry.
import { parseCommandArgs, UsageError } from "../args.ts";
import { cloudApi, parseJsonArg, resolveCloudUrl } from "../../cloud/client.ts";
import type { Thing } from "../../cloud/index.ts";

export const summary = "list, create, describe and delete things in the running cloud";

const HELP = `usage: xsiot things <list|create|describe|delete|password> [thing] [options]

  list                         all things
  create <thing> [--attributes JSON] [--policy JSON-array-of-topic-filters]
  describe <thing>
  delete <thing>
  password <thing>             a new MQTT password for the plain listener off loopback
                               (username = client id = thing name); shown once, replaces the old

options:
  --cloud URL   HTTP API of the cloud (default: from <dir>/cloud.json)
  --dir D       cloud state directory (default .xsiot)
  -h, --help    this text`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, { cloud: { type: "string" }, dir: { type: "string" }, attributes: { type: "string" }, policy: { type: "string" }, }, HELP, true);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [sub, name] = positionals;
  if (!sub || !["list", "create", "describe", "delete", "password"].includes(sub) || (sub !== "list" && !name) || positionals.length > (sub === "list" ? 1 : 2)) {
    throw new UsageError(`bad arguments`, HELP);
  }
  const base = resolveCloudUrl(values);
  const path = `/things/${encodeURIComponent(name ?? "")}`;
  if (sub === "list") {
    const { things } = await cloudApi<{ things: Thing[] }>(base, "GET", "/things");
    if (!things.length) console.log("(no things)");
    for (const t of things) console.log(`${t.thingName.padEnd(24)} ${JSON.stringify(t.attributes)}${t.policy ? ` policy=${JSON.stringify(t.policy)}` : ""}`);
  } else if (sub === "create") {
    const body = {
      thingName: name,
      attributes: values.attributes ? parseJsonArg("--attributes", values.attributes) : undefined,
      policy: values.policy ? parseJsonArg("--policy", values.policy) : undefined,
    };
    console.log(JSON.stringify(await cloudApi(base, "POST", "/things", body), null, 2));
  } else if (sub === "password") {
    const r = await cloudApi<{ username: string; password: string }>(base, "POST", `${path}/mqtt-password`);
    console.log(`username ${r.username}\npassword ${r.password}`);
  } else if (sub === "describe") console.log(JSON.stringify(await cloudApi(base, "GET", path), null, 2));
  else console.log(JSON.stringify(await cloudApi(base, "DELETE", path)));
  return 0;
}
