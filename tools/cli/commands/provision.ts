// `xsiot provision ca|device|claim`: the local PKI (tools/pki). Prints paths and
// subjects only; private keys stay in their 0600 files.
import { parseArgs } from "node:util";
import { DEFAULT_PKI_DIR, ensureCa, issueClaimCert, issueDeviceCert, certificateId } from "../../pki/index.ts";

export const summary = "local PKI: create a CA, device certificates (CN = thing), claim certificates";

const HELP = `usage: xsiot provision <ca|device|claim> [options]

  ca                  create the CA (P-256) in the PKI directory (kept if present)
  device <thing>      issue a device certificate with CN = <thing>
  claim [name]        issue a claim certificate for fleet provisioning (name defaults to "default")

options:
  --dir D      PKI directory (default ${DEFAULT_PKI_DIR})
  --days N     validity in days
  --force      (ca) replace an existing CA
  -h, --help   this text`;

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { dir: { type: "string" }, days: { type: "string" }, force: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    console.error(`xsiot provision: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
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
    console.error(`xsiot provision: unexpected arguments: ${extra.join(" ")}`);
    return 2;
  }
  switch (sub) {
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
      console.error(`xsiot provision: ${sub ? `unknown subcommand "${sub}"` : "missing subcommand"}\n\n${HELP}`);
      return 2;
  }
}
