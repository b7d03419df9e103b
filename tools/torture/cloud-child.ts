// The local cloud as a child process of the torture suite, so it can be killed
// with SIGKILL (a crash: nothing flushed, no close) as well as stopped cleanly
// (SIGTERM). Speaks JSON lines on stdout: {"ready":{ports}} once listening, then
// {"error": msg} for every error the cloud logs and {"unhandled": msg} for every
// unhandled rejection or exception, which the suite counts as failures.
import { startCloud, type Logger } from "../cloud/index.ts";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const say = (o: object) => process.stdout.write(JSON.stringify(o) + "\n");
process.on("unhandledRejection", (e) => say({ unhandled: `unhandled rejection: ${(e as Error)?.stack ?? e}` }));
process.on("uncaughtException", (e) => say({ unhandled: `uncaught exception: ${e.stack ?? e}` }));

const log: Logger = {
  info() {},
  warn(m) {
    if (process.env.XSIOT_TORTURE_VERBOSE) say({ warn: m });
  },
  error(m) {
    say({ error: m });
  },
};

const cloud = await startCloud({
  dir: arg("dir")!,
  port: Number(arg("port") ?? 0),
  tlsPort: Number(arg("tls-port") ?? 0),
  httpPort: Number(arg("http-port") ?? 0),
  log,
  writeStateFile: false,
});
say({ ready: { mqtt: cloud.ports.mqtt, mqtts: cloud.ports.mqtts, http: cloud.ports.http }, pid: process.pid });
process.once("SIGTERM", () => {
  void cloud.close().then(
    () => process.exit(0),
    (e) => {
      say({ error: `close failed: ${(e as Error).message}` });
      process.exit(1);
    },
  );
});
