// The virtual ESP32 as a HIL target: the firmware runs on the XS engine in
// virtual time; its JSON-line trace is parsed exactly as from a serial port.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Target, TargetOptions } from "../target.ts";
import { EventLog, TargetTimeout } from "../target.ts";
import { TraceParser, type DeviceEvent } from "../trace.ts";
import { VirtualDevice, type TraceEvent } from "../../tools/sim/device.ts";
import { buildApp, REPO_ROOT, type BuiltApp } from "../../tools/sim/image.ts";
import { loadBoard } from "../../tools/sim/board.ts";
import { emptyScenario, type Scenario } from "../../tools/sim/scenario.ts";

export interface SimTargetOptions {
  app?: string | BuiltApp;
  board?: string;
  scenario?: Scenario;
  /** Virtual time the device may run in all, ms. */
  horizonMs?: number;
  name?: string;
  dir?: string;
}

export class SimTarget implements Target {
  readonly kind = "sim" as const;
  private readonly log = new EventLog();
  get events(): readonly DeviceEvent[] {
    return this.log.events;
  }
  readonly simEvents: TraceEvent[] = [];
  device: VirtualDevice | undefined;
  private running: Promise<unknown> | undefined;
  private readonly parser = new TraceParser((e) => this.log.push(e), () => this.device?.epochNow ?? 0);
  readonly scenario: Scenario;
  readonly image: BuiltApp;

  constructor(private readonly options: SimTargetOptions = {}) {
    const app = options.app ?? join(REPO_ROOT, "firmware");
    this.image = typeof app === "string" ? buildApp(app) : app;
    this.scenario = options.scenario ?? emptyScenario();
  }

  async start(options: TargetOptions): Promise<void> {
    this.device = new VirtualDevice({
      name: this.options.name ?? "hil",
      dir: this.options.dir ?? mkdtempSync(join(tmpdir(), "xsiot-hil-")),
      board: loadBoard(this.options.board ?? "esp-wroom-32"),
      image: this.image,
      scenario: this.scenario,
      deviceConfig: { cloud: options.cloud, ...options.settings },
      onTrace: (e) => {
        this.simEvents.push(e);
        if (e.type === "log") this.parser.line(String(e.text));
      },
    });
    this.running = this.device.run(this.options.horizonMs ?? 30 * 86_400_000).finally(() => {
      this.finished = true;
    });
  }

  waitFor(match: (e: DeviceEvent) => boolean, timeoutMs: number, what: string): Promise<DeviceEvent> {
    const device = this.device!;
    const deadline = device.epochNow + timeoutMs;
    return this.log.wait(match, () => device.epochNow > deadline || this.finished, () => new TargetTimeout(`sim: no ${what} within ${timeoutMs / 1000} virtual s`));
  }

  private finished = false;

  /** Resolves when the device has run to its horizon (or was stopped). */
  async done(): Promise<void> {
    await this.running;
  }

  async reset(): Promise<void> {
    this.device!.powerCut(10);
  }

  async powerCut(offMs: number): Promise<void> {
    this.device!.powerCut(offMs);
  }

  async stop(): Promise<void> {
    this.device?.shutdown();
    await this.running?.catch(() => undefined);
    this.finished = true;
  }
}
