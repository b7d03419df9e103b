// xsiot demo (npm start): local cloud + virtual ESP32 fleet on the reference firmware, live.
import { parseCommandArgs, UsageError } from "../args.ts";
import { startDemo } from "../../demo/index.ts";
import { parseDuration } from "../../sim/duration.ts";
import { createServer } from "node:net";

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

export const summary = "local cloud and three virtual ESP32s on the reference firmware, with a live view (npm start)";

const HELP = `usage: xsiot demo [--devices 3] [--speed 120] [--board esp-wroom-32] [--dir .xsiot] [--duration D]
                  [--http-port 8080] [--host 127.0.0.1] [--no-web]

Opens the web console at http://127.0.0.1:8080/ (the printed URL; another free port if 8080
is taken) and draws the fleet in the terminal too.

  --devices N   virtual ESP32s (default 3)
  --speed S     virtual seconds per real second (default 120: a 15-minute sample every 7.5 s);
                0 runs as fast as the host can (with --duration)
  --duration D  stop after this much virtual time (default: until Ctrl-C)
  --dir D       state folder: cloud database, certificates, device flash (default .xsiot)
  --http-port P HTTP API and web console port (default 8080; 0 = any)
  --host H      listen address (default 127.0.0.1); on any other address the API and the
                console require the token printed at start
  --no-web      terminal view only (the JSON API stays up)`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
        devices: { type: "string", default: "3" },
        speed: { type: "string", default: "120" },
        board: { type: "string", default: "esp-wroom-32" },
        dir: { type: "string", default: ".xsiot" },
        duration: { type: "string" },
        "http-port": { type: "string" },
        host: { type: "string" },
        "no-web": { type: "boolean" },
      }, HELP);
  if (!parsed) return 0;
  const { values } = parsed;
  const devices = Number(values.devices);
  const speed = Number(values.speed);
  if (!Number.isInteger(devices) || devices < 1 || devices > 50) {
    console.error("xsiot demo: --devices must be 1..50");
    return 2;
  }
  if (!(speed >= 0)) {
    console.error("xsiot demo: --speed must be a number >= 0");
    return 2;
  }
  let durationMs: number | undefined;
  try {
    durationMs = values.duration ? parseDuration(values.duration, "--duration") : undefined;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}`);
  }
  if (speed === 0 && durationMs === undefined) {
    console.error("xsiot demo: --speed 0 needs --duration");
    return 2;
  }
  let httpPort = 8080;
  if (values["http-port"] !== undefined) {
    httpPort = Number(values["http-port"]);
    if (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535) throw new UsageError(`--http-port must be a port number (0-65535), got ${JSON.stringify(values["http-port"])}`);
  } else if (!(await portFree(8080, values.host ?? "127.0.0.1"))) httpPort = 0; // another cloud has 8080: any free port
  const demo = await startDemo({
    httpPort,
    host: values.host,
    web: !values["no-web"],
    devices,
    speed,
    dir: values.dir!,
    board: values.board!,
    durationMs,
    live: !!process.stdout.isTTY,
    out: (t) => process.stdout.write(t),
  });
  const interrupted = new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
  await Promise.race([demo.done, interrupted]);
  await demo.stop();
  return 0;
}
