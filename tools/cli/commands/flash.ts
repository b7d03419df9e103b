// xsiot flash: build the firmware for a board with Moddable's mcconfig and
// flash it, after checking every prerequisite and saying exactly what is missing.
import { parseCommandArgs } from "../args.ts";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { boardIds, loadBoard, BoardError } from "../../sim/board.ts";
import { manifestPath, writeManifests } from "../../boards/manifests.ts";
import { REPO_ROOT } from "../../sim/image.ts";
import { flashEspruino } from "../../../espruino/flash.ts";

export const summary = "build and flash the firmware to a board with mcconfig";

const HELP = `usage: xsiot flash --board ID [--port /dev/ttyUSB0] [--debug] [--dry-run]
       xsiot flash --runtime espruino --port /dev/ttyUSB0 [--settings xsiot.json] [--dry-run]
       xsiot flash --write-manifests

  --board ID          one of: ${boardIds().join(", ")}
  --port PATH         serial port (default: mcconfig's UPLOAD_PORT / auto-detect)
  --debug             debug build (-d): connects to xsbug
  --dry-run           check prerequisites and print the mcconfig command only
  --write-manifests   regenerate manifests/<board>.json from boards/*.json
  --runtime espruino  the Espruino bundle + reference app instead (espruino/), sent with the
                      espruino npm tool into Storage; --settings FILE becomes Storage "xsiot.json"

Needs: MODDABLE (Moddable SDK checkout, tools built), IDF_PATH (ESP-IDF, export.sh sourced),
mcconfig on PATH. XSIOT is set to this repository for the manifests' $(XSIOT) paths.`;

export interface Prerequisite {
  ok: boolean;
  what: string;
  fix: string;
}

export function checkPrerequisites(env: NodeJS.ProcessEnv, board: string | undefined): Prerequisite[] {
  const onPath = (cmd: string) => (env.PATH ?? "").split(delimiter).some((d) => d && existsSync(join(d, cmd)));
  const known = board !== undefined && boardIds().includes(board);
  return [
    {
      ok: !!env.MODDABLE && existsSync(env.MODDABLE),
      what: env.MODDABLE ? `MODDABLE=${env.MODDABLE} exists` : "MODDABLE is set",
      fix: "install the Moddable SDK and export MODDABLE=<its checkout> (https://github.com/Moddable-OpenSource/moddable, documentation/Moddable SDK - Getting Started.md)",
    },
    {
      ok: !!env.IDF_PATH && existsSync(env.IDF_PATH),
      what: env.IDF_PATH ? `IDF_PATH=${env.IDF_PATH} exists` : "IDF_PATH is set",
      fix: "install ESP-IDF as Moddable's ESP32 guide says and run `source $IDF_PATH/export.sh` in this shell",
    },
    { ok: onPath("mcconfig"), what: "mcconfig is on PATH", fix: "build Moddable's tools and add $MODDABLE/build/bin/<platform>/release to PATH" },
    { ok: known, what: board ? `board "${board}" is known` : "a board is given (--board)", fix: `use one of: ${boardIds().join(", ")}` },
  ];
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
        board: { type: "string" },
        port: { type: "string" },
        debug: { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
        "write-manifests": { type: "boolean", default: false },
        runtime: { type: "string" },
        settings: { type: "string" },
      }, HELP);
  if (!parsed) return 0;
  const { values } = parsed;
  if (values.runtime === "espruino") return flashEspruino({ root: REPO_ROOT, port: values.port, settings: values.settings, dryRun: values["dry-run"] });
  if (values.runtime !== undefined && values.runtime !== "moddable") {
    console.error(`xsiot flash: unknown --runtime ${values.runtime} (moddable or espruino)`);
    return 1;
  }
  if (values["write-manifests"]) {
    const changed = writeManifests();
    console.log(changed.length ? `wrote ${changed.join(", ")}` : "manifests are up to date");
    return 0;
  }
  const checks = checkPrerequisites(process.env, values.board);
  const missing = checks.filter((c) => !c.ok);
  for (const c of checks) console.log(`${c.ok ? "ok  " : "MISSING"} ${c.what}${c.ok ? "" : `\n        -> ${c.fix}`}`);
  let platform = "esp32";
  if (values.board && boardIds().includes(values.board)) {
    try {
      platform = loadBoard(values.board).mcconfig.platform;
    } catch (e) {
      if (e instanceof BoardError) {
        console.error(e.message);
        return 1;
      }
      throw e;
    }
  }
  const argv = [...(values.debug ? ["-d"] : []), "-m", "-p", platform, manifestPath(values.board ?? "<board>")];
  const env = { ...process.env, XSIOT: REPO_ROOT, ...(values.port ? { UPLOAD_PORT: values.port } : {}) };
  console.log(`\n${values.port ? `UPLOAD_PORT=${values.port} ` : ""}XSIOT=${REPO_ROOT} mcconfig ${argv.join(" ")}`);
  if (missing.length) {
    console.error(`\nxsiot flash: ${missing.length} prerequisite${missing.length > 1 ? "s" : ""} missing (see above); nothing was built.`);
    return 1;
  }
  if (values["dry-run"]) return 0;
  const r = spawnSync("mcconfig", argv, { env, stdio: "inherit", cwd: REPO_ROOT });
  return r.status ?? 1;
}
