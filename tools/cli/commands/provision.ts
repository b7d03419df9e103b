// `xsiot provision ca|device|claim`: the local PKI (tools/pki). Prints paths and
// subjects only; private keys stay in their 0600 files.
import { parseCommandArgs, UsageError } from "../args.ts";
import { DEFAULT_PKI_DIR, ensureCa, issueClaimCert, issueDeviceCert, certificateId } from "../../pki/index.ts";
import { cloudApi, resolveCloudUrl } from "../../cloud/client.ts";

export const summary = "local PKI (CA, device and claim certificates) and fleet provisioning templates";

const HELP = `usage: xsiot provision <ca|device|claim|template> [options]

  ca                  create the CA (P-256) in the PKI directory (kept if present)
  device <thing>      issue a device certificate with CN = <thing>
  claim [name]        issue a claim certificate for fleet provisioning (name defaults to "default")
  template <name>     create or replace a fleet provisioning template in the running cloud:
                        --serials S1,S2        allowed SerialNumber values, and/or
                        --serial-pattern RE    a regular expression a SerialNumber must match (anchored)
                        --thing-name P         thing name pattern (default "\${SerialNumber}"),
                                               e.g. 'sensor-\${SerialNumber}'
                        --attr k=v             thing attribute (repeatable; v may use \${Param})
                        --claims c1,c2         claim names allowed to use it (default: any claim)
                        --disable              keep it but refuse provisioning
                      without options: print the template; --delete removes it
  templates           list the templates of the running cloud

options:
  --dir D      PKI directory (default ${DEFAULT_PKI_DIR})
  --days N     validity in days
  --force      (ca) replace an existing CA
  --cloud URL  (template) the cloud's HTTP API (default: from --cloud-dir)
  --cloud-dir D  (template) the running cloud's state directory (default .xsiot)
  -h, --help   this text`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
        dir: { type: "string" },
        days: { type: "string" },
        force: { type: "boolean" },
        cloud: { type: "string" },
        "cloud-dir": { type: "string" },
        serials: { type: "string" },
        "serial-pattern": { type: "string" },
        "thing-name": { type: "string" },
        attr: { type: "string", multiple: true },
        claims: { type: "string" },
        disable: { type: "boolean" },
        delete: { type: "boolean" },
      }, HELP, true);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const dir = values.dir ?? DEFAULT_PKI_DIR;
  let days: number | undefined;
  if (values.days !== undefined) {
    days = Number(values.days);
    if (!Number.isInteger(days) || days < 1 || days > 36500) {
      console.error("xsiot provision: --days must be an integer from 1 to 36500");
      return 2;
    }
  }
  const [sub, name, ...extra] = positionals;
  if (extra.length) {
    throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
  }
  switch (sub) {
    case "template":
    case "templates":
      return template(sub, name, values);
    case "ca": {
      const ca = await ensureCa(dir, { days, force: values.force });
      console.log(`${ca.created ? "created" : "kept existing"} CA ${ca.cert.subject}\n  cert: ${ca.certPath}`);
      return 0;
    }
    case "device":
    case "claim": {
      if (sub === "device" && !name) {
        console.error("xsiot provision device: missing <thing>\n\n" + HELP);
        return 2;
      }
      await ensureCa(dir);
      const out = sub === "device" ? await issueDeviceCert(dir, name!, { days }) : await issueClaimCert(dir, name ?? "default", { days });
      console.log(`issued ${sub} certificate CN=${out.cn}\n  id:   ${certificateId(out.certPem)}\n  cert: ${out.certPath}\n  key:  ${out.keyPath} (mode 0600)`);
      return 0;
    }
    default:
      throw new UsageError(`${sub ? `unknown subcommand "${sub}"` : "missing subcommand"}`, HELP);
  }
}

type Values = { cloud?: string; "cloud-dir"?: string; serials?: string; "serial-pattern"?: string; "thing-name"?: string; attr?: string[]; claims?: string; disable?: boolean; delete?: boolean };

async function template(sub: string, name: string | undefined, v: Values): Promise<number> {
  const base = resolveCloudUrl({ cloud: v.cloud, dir: v["cloud-dir"] });
  if (sub === "templates") {
    const { templates } = await cloudApi<{ templates: { templateName: string; enabled: boolean; serials?: string[]; serialPattern?: string; thingNamePattern: string }[] }>(base, "GET", "/provisioning-templates");
    for (const t of templates)
      console.log(`${t.templateName}${t.enabled ? "" : " (disabled)"}: thing ${t.thingNamePattern}; serials ${[t.serials ? `${t.serials.length} listed` : "", t.serialPattern ? `/${t.serialPattern}/` : ""].filter(Boolean).join(" or ")}`);
    if (!templates.length) console.log("no templates");
    return 0;
  }
  if (!name) {
    console.error("xsiot provision template: missing <name>\n\n" + HELP);
    return 2;
  }
  const path = `/provisioning-templates/${encodeURIComponent(name)}`;
  if (v.delete) {
    await cloudApi(base, "DELETE", path);
    console.log(`deleted template ${name}`);
    return 0;
  }
  const list = (s?: string) => (s === undefined ? undefined : s.split(",").map((x) => x.trim()).filter(Boolean));
  const changing = v.serials !== undefined || v["serial-pattern"] !== undefined || v["thing-name"] !== undefined || v.attr || v.claims !== undefined || v.disable;
  if (!changing) {
    console.log(JSON.stringify(await cloudApi(base, "GET", path), null, 2));
    return 0;
  }
  const attributes: Record<string, string> = {};
  for (const a of v.attr ?? []) {
    const i = a.indexOf("=");
    if (i <= 0) {
      console.error(`xsiot provision template: --attr wants k=v, got ${JSON.stringify(a)}`);
      return 2;
    }
    attributes[a.slice(0, i)] = a.slice(i + 1);
  }
  const body = {
    templateName: name,
    enabled: !v.disable,
    serials: list(v.serials),
    serialPattern: v["serial-pattern"],
    thingNamePattern: v["thing-name"],
    attributes: v.attr ? attributes : undefined,
    claims: list(v.claims),
  };
  const t = await cloudApi<{ templateName: string; thingNamePattern: string }>(base, "PUT", path, body);
  console.log(`template ${t.templateName}: thing name ${t.thingNamePattern}${v.disable ? " (disabled)" : ""}`);
  return 0;
}
