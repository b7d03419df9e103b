// npm start: the local cloud on embedded defaults and a few virtual ESP32s
// running the reference firmware in accelerated virtual time, provisioned by
// claim on their first boot, with a live view of the fleet.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { startCloud, silentLogger, type Cloud } from "../cloud/index.ts";
import type { ProvisioningService } from "../cloud/provisioning.ts";
import { issueClaimCert } from "../pki/index.ts";
import { writeSigningKey, KEY_FILES } from "../ota/signing.ts";
import { buildApp, REPO_ROOT } from "../sim/image.ts";
import { loadBoard } from "../sim/board.ts";
import { loadScenario } from "../sim/scenario.ts";
import { VirtualDevice, type TraceEvent } from "../sim/device.ts";
import { FleetView } from "./view.ts";
import type { ConsoleService } from "../console/service.ts";
import { localOtaPublisher } from "../console/ota.ts";
import type { StreamsService } from "../cloud/streams.ts";

export interface DemoOptions {
  devices: number;
  /** Virtual seconds per real second. */
  speed: number;
  dir: string;
  board: string;
  /** Stop after this much virtual time (ms); default: until interrupted. */
  durationMs?: number;
  /** Redraw in place (a terminal) or print a snapshot every few seconds (a pipe). */
  live: boolean;
  out: (text: string) => void;
  /** Serve the web console (default true); the JSON API is served either way. */
  web?: boolean;
  /** HTTP port of the cloud (API and console); 0 or unset: any free port. */
  httpPort?: number;
  /** Listen address of the cloud (default 127.0.0.1); off loopback the HTTP API requires `token`. */
  host?: string;
  token?: string;
  /** Every simulator trace event of every node (tests, other views). */
  onTrace?: (event: TraceEvent) => void;
}

export interface Demo {
  cloud: Cloud;
  devices: VirtualDevice[];
  view: FleetView;
  /** Resolves when every device has run its duration or the demo was stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** The console's address as printed (with the token to sign in, when one is needed). */
export function consoleLine(cloud: Cloud, web = true): string {
  if (!web) return `HTTP API: ${cloud.httpUrl} (web console off: --no-web)${cloud.token ? `, token ${cloud.token}` : ""}`;
  return `web console: ${cloud.httpUrl}/${cloud.token ? `   (sign in with token ${cloud.token})` : ""}`;
}

export function tryNext(cloud: Cloud, dir: string, keyPath: string, web = true): string {
  const d = dir === ".xsiot" ? "" : ` --dir ${dir}`;
  return [
    consoleLine(cloud, web),
    "",
    "try, in another terminal:",
    `  npx xsiot things list${d}`,
    `  npx xsiot shadow update sensor-SN-001 --desired '{"config":{"sampleS":300}}'${d}`,
    `  npx xsiot ota publish --things sensor-SN-001,sensor-SN-002 --image firmware --version 1.1.0 --key ${keyPath}${d}`,
    "  (devices pick up shadow changes and jobs at their next uplink: every 6 virtual hours, or at once on an event)",
    `  npx xsiot energy --days 30          (battery projection, batched vs naive)`,
    "Ctrl-C stops the demo.",
  ].join("\n");
}

export async function startDemo(o: DemoOptions): Promise<Demo> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });
  const cloud = await startCloud({ dir, host: o.host, port: 0, tlsPort: 0, httpPort: o.httpPort ?? 0, token: o.token, log: silentLogger });
  const claim = await issueClaimCert(cloud.pkiDir, "demo");
  cloud.service<ProvisioningService>("provisioning")!.putTemplate({
    templateName: "sensors",
    serialPattern: "SN-[0-9]{3}",
    thingNamePattern: "sensor-${SerialNumber}",
    attributes: { board: "${board}" },
  });
  const keyDir = join(dir, "ota");
  const signer = await writeSigningKey(keyDir, { force: true });
  const image = buildApp(join(REPO_ROOT, "firmware"));
  const board = loadBoard(o.board);
  const view = new FleetView();
  const devices: VirtualDevice[] = [];
  for (let i = 1; i <= o.devices; i++) {
    const name = `node-${i}`;
    const deviceDir = join(dir, "sim", name);
    rmSync(deviceDir, { recursive: true, force: true }); // fresh chips: each demo provisions anew
    devices.push(
      new VirtualDevice({
        name,
        dir: deviceDir,
        board,
        image,
        scenario: loadScenario(join(REPO_ROOT, "firmware/scenarios/default.json"), i),
        startTime: Date.now(),
        pace: o.speed > 0 ? o.speed : undefined, // virtual ms per real ms = virtual s per real s
        peerBusy: () => cloud.busy(), // provisioning makes an RSA key: the device waits for it
        deviceConfig: {
          cloud: { host: "127.0.0.1", tlsPort: cloud.ports.mqtts, caPem: cloud.caPem },
          serial: `SN-${String(i).padStart(3, "0")}`,
          template: "sensors",
          claim: { certificate: claim.certPem, key: claim.keyPem },
          codeSigningKey: signer.publicKey,
        },
        onTrace: (e) => {
          view.update(e);
          o.onTrace?.(e);
        },
      }),
    );
  }
  const consoleService = cloud.service<ConsoleService>("console");
  if (consoleService) {
    consoleService.web = o.web !== false;
    consoleService.setHooks({
      virtualFleet: () =>
        devices.map((d) => {
          const r = view.row(d.name);
          const sampled = r.lastSample ? { ...r.lastSample, count: r.readings } : undefined;
          return { device: d.name, thing: r.thing, state: r.state, version: r.version, now: d.epochNow, nextWake: r.nextWake, energy: d.energy.report(d.now), sampled };
        }),
      ota: localOtaPublisher({ jobs: cloud.jobs, streams: cloud.service<StreamsService>("streams")! }, { appDir: join(REPO_ROOT, "firmware"), keyPem: readFileSync(signer.paths.key, "utf8") }),
    });
  }
  const horizon = o.durationMs ?? 10 * 365 * 86_400_000;
  const keyPath = join(o.dir, "ota", KEY_FILES.key);
  const draw = () => {
    for (const d of devices) view.row(d.name).energy = d.energy.report(d.now);
    const text = `${view.render()}\n\n${tryNext(cloud, o.dir, keyPath, o.web !== false)}`;
    o.out(o.live ? `\x1b[H\x1b[2J${text}\n` : `${text}\n\n`);
  };
  if (!o.live) o.out(`${consoleLine(cloud, o.web !== false)}\n\n`); // at once: the first snapshot comes in 5 s
  const timer = setInterval(draw, o.live ? 500 : 5000);
  const done = Promise.all(devices.map((d) => d.run(horizon))).then(() => undefined);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const d of devices) d.shutdown();
    await done.catch(() => undefined);
    clearInterval(timer);
    draw();
    await cloud.close();
  };
  return { cloud, devices, view, done, stop };
}
