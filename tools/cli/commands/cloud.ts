// `xsiot cloud`: run the local cloud (embedded broker or services on an external broker).
import { parseCommandArgs, UsageError } from "../args.ts";
import { DEFAULT_CLOUD_DIR, startCloud } from "../../cloud/index.ts";

export const summary = "run the local AWS-IoT-style cloud (MQTT + mTLS broker, shadow, jobs, HTTP API)";

const HELP = `usage: xsiot cloud [options]

Runs until interrupted. Writes <dir>/cloud.json so other commands find it.

options:
  --dir D          state directory (default ${DEFAULT_CLOUD_DIR}): cloud.db, cloud.json, pki/
  --host H         listen address (default 127.0.0.1). Off loopback the HTTP API and web
                   console need the token printed at start, and the plain MQTT listener is off unless --plain-mqtt
  --port P         plain MQTT port, client id = thing name (default 1883; 0 = any)
  --plain-mqtt     off loopback: open the plain listener too; a client then needs
                   username = client id = thing name and the thing's password
                   (xsiot things password <thing>)
  --tls-port P     mutual-TLS MQTT port, certificate CN = thing name (default 8883; 0 = any)
  --http-port P    HTTP operator API and web console port (default 8080; 0 = any)
  --broker URL     attach the services to an external broker (mqtt://...) instead
  --no-auto-register  refuse things that are not registered
  -h, --help       this text`;

function port(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number (0-65535), got ${JSON.stringify(v)}`);
  return n;
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
        dir: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        "tls-port": { type: "string" },
        "http-port": { type: "string" },
        broker: { type: "string" },
        "no-auto-register": { type: "boolean" },
        "plain-mqtt": { type: "boolean" },
      }, HELP);
  if (!parsed) return 0;
  const { values } = parsed;
  let ports;
  try {
    ports = { port: port("--port", values.port, 1883), tlsPort: port("--tls-port", values["tls-port"], 8883), httpPort: port("--http-port", values["http-port"], 8080) };
    if (values.broker && !/^mqtts?:\/\//.test(values.broker)) throw new Error("--broker must be an mqtt:// or mqtts:// URL");
  } catch (e) {
    throw new UsageError(`${(e as Error).message}`);
  }
  const cloud = await startCloud({
    dir: values.dir ?? DEFAULT_CLOUD_DIR,
    host: values.host,
    ...ports,
    brokerUrl: values.broker,
    autoRegister: !values["no-auto-register"],
    ...(values["plain-mqtt"] ? { plainMqtt: true } : {}),
  });
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await cloud.close();
  return 0;
}
