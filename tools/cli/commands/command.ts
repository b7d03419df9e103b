// `xsiot command send|list|get`: commands with a time to live, held by the cloud for sleeping things.
import { parseCommandArgs, UsageError } from "../args.ts";
import { cloudApi, parseJsonArg, resolveCloudUrl } from "../../cloud/client.ts";
import type { CommandExecution } from "../../cloud/index.ts";

export const summary = "send commands with a time to live to things, and watch their executions";

const HELP = `usage: xsiot command <send|list|get> [options]

  send <thing> --name N [--payload JSON] --ttl 30m
                      held until the thing next connects; never delivered (and TIMED_OUT)
                      once the ttl has passed; the device refuses it by its own clock too
  list [thing]        executions, oldest first
  get <executionId>   one execution as JSON

options:
  --cloud URL   HTTP API of the cloud (default: from <dir>/cloud.json)
  --dir D       cloud state directory (default .xsiot)
  -h, --help    this text`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, { name: { type: "string" }, payload: { type: "string" }, ttl: { type: "string" }, cloud: { type: "string" }, dir: { type: "string" } }, HELP, true);
  if (!parsed) return 0;
  const { values: v, positionals } = parsed;
  const [sub, target, ...extra] = positionals;
  if (!sub || !["send", "list", "get"].includes(sub) || ((sub === "send" || sub === "get") && !target) || extra.length) throw new UsageError("bad arguments", HELP);
  const base = resolveCloudUrl(v);
  if (sub === "send") {
    if (!v.name) throw new UsageError("--name is required", HELP);
    if (!v.ttl) throw new UsageError("--ttl is required (e.g. 30m): a command without a deadline is a job", HELP);
    const payload = v.payload === undefined ? undefined : parseJsonArg("--payload", v.payload);
    const ex = await cloudApi<CommandExecution>(base, "POST", `/things/${encodeURIComponent(target)}/commands`, { name: v.name, payload, ttl: v.ttl });
    console.log(`command ${ex.executionId} (${ex.name}) for ${ex.thingName}: ${ex.status}, deadline ${new Date(ex.deadline).toISOString()}`);
    return 0;
  }
  if (sub === "get") {
    console.log(JSON.stringify(await cloudApi<CommandExecution>(base, "GET", `/commands/${encodeURIComponent(target)}`), null, 2));
    return 0;
  }
  const path = target ? `/things/${encodeURIComponent(target)}/commands` : "/commands";
  const { commands } = await cloudApi<{ commands: CommandExecution[] }>(base, "GET", path);
  if (!commands.length) console.log("(no commands)");
  for (const c of commands) {
    const reason = c.statusReason ? ` ${c.statusReason.reasonCode}` : "";
    console.log(`${c.executionId}  ${c.thingName.padEnd(20)} ${c.name.padEnd(16)} ${(c.status + reason).padEnd(22)} deadline ${new Date(c.deadline).toISOString()}`);
  }
  return 0;
}
