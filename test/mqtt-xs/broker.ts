// A real Mosquitto per test file, on free loopback ports, with its log (log_type
// all) readable by the tests: the broker is the independent witness of what
// the device put on the wire (PINGREQ, PUBACK/PUBREC/PUBCOMP, DUP resends).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import mqtt, { type MqttClient, type IClientOptions, type IPublishPacket } from "mqtt";

export const MOSQUITTO = "/usr/sbin/mosquitto";
/** node:test skip value: false when Mosquitto is installed, else the visible reason. */
export const skipNoBroker: false | string = existsSync(MOSQUITTO) ? false : `Mosquitto not installed at ${MOSQUITTO}`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on("error", reject);
  });
}

async function waitListening(p: number, child: ChildProcess, logPath: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}): ${existsSync(logPath) ? readFileSync(logPath, "utf8") : ""}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(p, "127.0.0.1", () => {
        c.destroy();
        resolve(true);
      });
      c.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error("mosquitto did not start listening");
}

export interface TlsListener {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface Broker {
  port: number;
  /** The mutual-TLS listener (require_certificate true, use_identity_as_username true). */
  tlsPort: number;
  dir: string;
  /** Broker log lines so far (timestamps stripped). */
  log(): string[];
  stop(): Promise<void>;
}

export async function startMosquitto(opts: { tls?: TlsListener } = {}): Promise<Broker> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "xsiot-mosq-"));
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : 0;
  const logPath = path.join(dir, "mosquitto.log");
  const lines = [
    "user root", // running as root in CI containers: do not drop to a user that cannot read this temp dir
    "per_listener_settings false",
    "allow_anonymous true",
    "persistence false",
    "max_inflight_messages 100", // the v5 Receive Maximum it advertises: room for a 24-reading wake in one window
    `log_dest file ${logPath}`,
    "log_type all",
    "log_timestamp false",
    `listener ${port} 127.0.0.1`,
  ];
  if (opts.tls) {
    writeFileSync(path.join(dir, "ca.pem"), opts.tls.caPem);
    writeFileSync(path.join(dir, "server.pem"), opts.tls.certPem);
    writeFileSync(path.join(dir, "server.key"), opts.tls.keyPem);
    lines.push(
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${path.join(dir, "ca.pem")}`,
      `certfile ${path.join(dir, "server.pem")}`,
      `keyfile ${path.join(dir, "server.key")}`,
      "require_certificate true",
      "use_identity_as_username true",
    );
  }
  const conf = path.join(dir, "mosquitto.conf");
  writeFileSync(conf, lines.join("\n") + "\n");
  const child = spawn(MOSQUITTO, ["-c", conf], { stdio: "ignore" });
  await waitListening(port, child, logPath);
  if (tlsPort) await waitListening(tlsPort, child, logPath);
  return {
    port,
    tlsPort,
    dir,
    log: () => (existsSync(logPath) ? readFileSync(logPath, "utf8").split("\n").filter(Boolean) : []),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill();
        await new Promise((r) => child.once("exit", r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An MQTT.js peer application on the plain listener; resolves once connected. */
export async function peer(port: number, options: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect({ host: "127.0.0.1", port, protocolVersion: 5, reconnectPeriod: 0, ...options });
  await new Promise<void>((resolve, reject) => {
    c.once("connect", () => resolve());
    c.once("error", reject);
  });
  return c;
}

/** Collects PUBLISH packets an MQTT.js peer receives. */
export function collect(c: MqttClient): IPublishPacket[] {
  const got: IPublishPacket[] = [];
  c.on("message", (_topic, _payload, packet) => got.push(packet));
  return got;
}

export async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A positive "everything earlier has arrived" for an MQTT.js peer subscribed to
 * `topic`: publishes a marker there at `qos` and resolves when it comes back.
 * Whatever the broker had taken before the marker is queued ahead of it for this
 * client at the same QoS, and one TCP stream keeps order.
 */
export async function barrier(c: MqttClient, topic: string, qos: 0 | 1 | 2): Promise<void> {
  const back = new Promise<void>((resolve) => {
    const on = (t: string) => {
      if (t !== topic) return;
      c.off("message", on);
      resolve();
    };
    c.on("message", on);
  });
  await c.publishAsync(topic, "barrier", { qos });
  await back;
}
