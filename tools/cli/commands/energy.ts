// xsiot energy: where the charge goes, scheduled vs connect-per-reading.
import { writeFileSync, existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseCommandArgs } from "../args.ts";
import { runEnergy, formatReport } from "../../energy/index.ts";
import { renderHtml } from "../../energy/html.ts";

export const summary = "energy report: run an app for virtual days, mAh by state, battery life, vs the naive configuration";

const HELP = `usage: xsiot energy [--app firmware] [--board esp-wroom-32] [--days 30] [--scenario S.json] [--html out.html] [--plain] [--modes batched,naive]

Runs the app on the virtual ESP32 against an in-process local cloud (mutual TLS unless --plain),
once per mode (mc/config "mode"), and prints mAh per state, average current, projected battery
life and the naive/batched ratio. --html writes a self-contained report with plots.
Modes: batched (the scheduler's default), naive (connect for every reading), https (the batched
plan, each message sent as its own HTTPS POST: a TLS handshake per message, publish only).`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
      app: { type: "string", default: "firmware" },
      board: { type: "string", default: "esp-wroom-32" },
      days: { type: "string", default: "30" },
      scenario: { type: "string" },
      html: { type: "string" },
      plain: { type: "boolean", default: false },
      modes: { type: "string", default: "batched,naive" }
    }, HELP);
  if (!parsed) return 0;
  const { values } = parsed;
  const days = Number(values.days);
  if (!(days > 0 && days <= 3650)) throw new Error(`--days must be a number in (0, 3650], got ${values.days}`);
  const app = resolve(values.app!);
  if (!existsSync(resolve(app, "manifest.json"))) throw new Error(`--app ${values.app}: no manifest.json there (the reference firmware may not exist yet; try --app test/sleep/apps/node)`);
  const report = await runEnergy({
    app,
    board: values.board!,
    days,
    scenario: values.scenario,
    plain: values.plain,
    modes: values.modes!.split(",").map((s) => s.trim()).filter(Boolean),
    onProgress: (line) => process.stderr.write(line + "\n"),
  });
  console.log(formatReport(report));
  if (values.html) {
    writeFileSync(values.html, renderHtml(report));
    console.log(`wrote ${values.html}`);
  }
  return 0;
}
