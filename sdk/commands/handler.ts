// CommandHandler: commands with a time to live, over any MqttConnection.
//
// Topics follow AWS IoT commands: requests arrive on
// $aws/commands/things/<thing>/executions/<executionId>/request/json and the
// answer goes to .../<executionId>/response/json as
// {"status": "SUCCEEDED"|"FAILED"|"REJECTED", "statusReason": {"reasonCode", "reasonDescription"}}.
// The request body is the cloud's: {"name", "payload"?, "deadline"? (epoch ms)}.
//
// Rules, in order, for each request:
//  - malformed -> REJECTED MALFORMED;
//  - seen before -> the stored answer is sent again, the handler never runs twice;
//    seen as RUNNING but not in this boot (power was lost mid-command) -> FAILED INTERRUPTED
//    (at most once: a command may have had effects, so it is never re-run);
//  - deadline passed by this device's clock -> REJECTED EXPIRED, never run;
//  - no handler for the name -> REJECTED UNSUPPORTED;
//  - else RUNNING is written to storage, the handler runs, its outcome is stored, then sent.
// The last RECENT answers live in key-value storage, so this holds across deep
// sleep and power cuts. Hostile input never throws out of a callback.
import KeyValue from "embedded:storage/key-value";
import Timer from "timer";
import type { MqttConnection } from "../mqtt/types";
import { parseObject } from "../shadow/json";

export type CommandStatus = "SUCCEEDED" | "FAILED" | "REJECTED";

export interface Command {
  readonly executionId: string;
  readonly name: string;
  readonly payload: unknown;
  /** Epoch ms after which the command must not run (undefined: no deadline). */
  readonly deadline: number | undefined;
}

/** What a handler returns: nothing (SUCCEEDED) or an explicit outcome. A throw is FAILED with its message. */
export type CommandOutcome = void | { status: "SUCCEEDED" | "FAILED"; reasonCode?: string; reasonDescription?: string };
export type CommandCallback = (command: Command) => CommandOutcome | Promise<CommandOutcome>;

/** The part of key-value storage the handler uses (Moddable's embedded:storage/key-value Storage fits). */
export interface CommandStore {
  read(key: string): unknown;
  write(key: string, value: string): void;
}

export interface CommandHandlerOptions {
  thingName: string;
  /** This device's clock, epoch ms (e.g. corrected by the shadow's server time). Default Date.now. */
  now?(): number;
  /** Default KeyValue.open({ path: "xsiot-cmd", format: "string" }). */
  storage?: CommandStore;
  /** Largest request accepted, bytes (default 8192). */
  maxRequestBytes?: number;
  log?(line: string): void;
}

const RECENT = 16;
const KEY = "recent";
const EXECUTION_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const NAME = /^[a-zA-Z0-9_.-]{1,64}$/;
const MAX_REASON = 256;

type Entry = [id: string, status: CommandStatus | "RUNNING", reasonCode: string, reasonDescription: string];

export class CommandHandler {
  /** Requests answered from storage instead of running again (duplicates). */
  duplicates = 0;
  private handlers: { [name: string]: CommandCallback } = {};
  private running: { [id: string]: true } = {};
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private remove: (() => void) | undefined;
  private kv: CommandStore | undefined;
  private readonly prefix: string;

  constructor(
    private readonly client: MqttConnection,
    private readonly options: CommandHandlerOptions,
  ) {
    this.prefix = `$aws/commands/things/${options.thingName}/executions/`;
  }

  /** Runs `callback` for commands called `name`. */
  on(name: string, callback: CommandCallback): this {
    this.handlers[name] = callback;
    return this;
  }

  /** Routes and subscribes to this thing's command requests (QoS 1). */
  async start(): Promise<void> {
    if (!this.remove) this.remove = this.client.route(this.prefix + "+/request/json", (topic, payload) => this.onRequest(topic, payload));
    const [result] = await this.client.subscribe(this.prefix + "+/request/json", { qos: 1 });
    if ("reasonCode" in result) throw new Error(`commands: subscription refused (reason 0x${result.reasonCode.toString(16)})`);
  }

  /** Resolves when no command is running, or after ms. */
  idle(ms: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = Timer.set(() => resolve(), ms);
      this.idleWaiters.push(() => {
        Timer.clear(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.remove?.();
    this.remove = undefined;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private onRequest(topic: string, payload: ArrayBuffer): void {
    const id = topic.slice(this.prefix.length, topic.length - "/request/json".length);
    if (!EXECUTION_ID.test(id)) return this.log(`commands: ignored request on ${topic}: bad execution id`);
    if (this.running[id]) return; // delivered again while it runs in this boot: its answer is coming
    const seen = this.lookup(id);
    if (seen) {
      this.duplicates++;
      if (seen[1] === "RUNNING") {
        // Not running in this boot, yet marked RUNNING: power was lost while it ran.
        this.finish(id, "FAILED", "INTERRUPTED", "the device restarted while the command ran");
      } else {
        this.log(`commands: ${id} again: answered ${seen[1]} again, not run`);
        this.send(id, seen[1], seen[2], seen[3]);
      }
      return;
    }
    let command: Command;
    try {
      const body = parseObject(payload, this.options.maxRequestBytes ?? 8192, 16);
      const { name, deadline } = body;
      if (typeof name !== "string" || !NAME.test(name)) throw new Error("name must be 1-64 of [a-zA-Z0-9_.-]");
      if (deadline !== undefined && (typeof deadline !== "number" || !(deadline >= 0))) throw new Error("deadline must be epoch milliseconds");
      command = { executionId: id, name, payload: body.payload, deadline: deadline as number | undefined };
    } catch (e) {
      return this.finish(id, "REJECTED", "MALFORMED", (e as Error).message);
    }
    const now = this.options.now ? this.options.now() : Date.now();
    if (command.deadline !== undefined && now > command.deadline)
      return this.finish(id, "REJECTED", "EXPIRED", `deadline passed ${Math.round((now - command.deadline) / 1000)} s ago`);
    const callback = this.handlers[command.name];
    if (!callback) return this.finish(id, "REJECTED", "UNSUPPORTED", `no handler for "${command.name}"`);
    this.remember(id, "RUNNING", "", "");
    this.running[id] = true;
    this.inFlight++;
    let outcome: Promise<CommandOutcome>;
    try {
      outcome = Promise.resolve(callback(command));
    } catch (e) {
      outcome = Promise.reject(e);
    }
    outcome
      .then(
        (r) => (r ? this.finish(id, r.status === "FAILED" ? "FAILED" : "SUCCEEDED", r.reasonCode ?? "", r.reasonDescription ?? "") : this.finish(id, "SUCCEEDED", "", "")),
        (e: unknown) => this.finish(id, "FAILED", "HANDLER_ERROR", e instanceof Error ? e.message : String(e)),
      )
      .then(() => {
        delete this.running[id];
        if (--this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
  }

  /** Stores the outcome, then answers: a power cut in between resends the stored answer. */
  private finish(id: string, status: CommandStatus, reasonCode: string, reasonDescription: string): void {
    const description = reasonDescription.length > MAX_REASON ? reasonDescription.slice(0, MAX_REASON) : reasonDescription;
    this.remember(id, status, reasonCode, description);
    this.log(`commands: ${id} ${status}${reasonCode ? " " + reasonCode : ""}`);
    this.send(id, status, reasonCode, description);
  }

  private send(id: string, status: CommandStatus | "RUNNING", reasonCode: string, reasonDescription: string): void {
    const body: { status: string; statusReason?: { reasonCode: string; reasonDescription: string } } = { status };
    if (reasonCode) body.statusReason = { reasonCode, reasonDescription };
    this.client.publish(`${this.prefix}${id}/response/json`, JSON.stringify(body), { qos: 1 }).catch((e: Error) => this.log(`commands: answer to ${id} not sent: ${e.message}`));
  }

  // ---- storage: the last RECENT executions, one JSON string --------------------

  private store(): CommandStore {
    if (!this.kv) this.kv = this.options.storage ?? (KeyValue.open({ path: "xsiot-cmd", format: "string" }) as unknown as CommandStore);
    return this.kv;
  }
  private entries(): Entry[] {
    try {
      const raw = this.store().read(KEY);
      if (typeof raw !== "string" || raw.length > 8192) return [];
      const list = JSON.parse(raw) as unknown;
      if (!Array.isArray(list)) return [];
      return list.filter((e): e is Entry => Array.isArray(e) && e.length === 4 && e.every((f) => typeof f === "string")).slice(-RECENT);
    } catch {
      return [];
    }
  }
  private lookup(id: string): Entry | undefined {
    const list = this.entries();
    for (let i = list.length - 1; i >= 0; i--) if (list[i][0] === id) return list[i];
    return undefined;
  }
  private remember(id: string, status: Entry[1], reasonCode: string, reasonDescription: string): void {
    const list = this.entries().filter((e) => e[0] !== id);
    list.push([id, status, reasonCode, reasonDescription]);
    try {
      this.store().write(KEY, JSON.stringify(list.slice(-RECENT)));
    } catch (e) {
      this.log(`commands: storage write failed: ${(e as Error).message}`);
    }
  }
}
