// Command runner for the SDK on Moddable's lin runtime. Each stdin line of the host
// (scripts/moddable/host.c) is one JSON command; every outcome is one JSON trace line.
//   {"op":"client","id":"a","options":{...MQTTClientOptions}}   connect
//     (with options.tls = {ca, certificate, key} as PEM: over Moddable's TLS socket,
//     embedded:io/socket/tcp/tls from examples/io/tcp/tlssocket, i.e. modules/crypt/ssl)
//   {"op":"sub","id":"a","filters":["x/#"],"qos":2} {"op":"pub","id":"a","topic":"t","payload":"p","qos":1}
//   {"op":"flush","id":"a"} {"op":"close","id":"a"}
//   {"op":"shadow","id":"a","thing":"t"} {"op":"report","id":"a","state":{...}}
//   {"op":"jobs","id":"a","thing":"t"}   (operation "count": reports steps, succeeds)
import { MQTTClient } from "xsiot/mqtt/client";
import { ShadowClient } from "xsiot/shadow/client";
import { JobsAgent } from "xsiot/jobs/agent";
import TLS from "embedded:io/socket/tcp/tls";

function emit(ev: string, fields: Record<string, unknown> = {}): void {
  trace(JSON.stringify({ ev, ...fields }) + "\n");
}
function text(payload: ArrayBuffer): string {
  const b = new Uint8Array(payload);
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}
const message = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

const clients = new Map<string, MQTTClient>();
const shadows = new Map<string, ShadowClient>();

function client(id: string): MQTTClient {
  const c = clients.get(id);
  if (!c) throw new Error(`no client ${id}`);
  return c;
}

function run(cmd: any): void {
  const id: string = cmd.id;
  switch (cmd.op) {
    case "client": {
      const c = new MQTTClient({
        reconnect: false,
        ...cmd.options,
        ...(cmd.options.tls ? { socket: TLS } : {}),
        onConnect(info) {
          emit("connected", { id, sessionPresent: info.sessionPresent });
        },
        onClose(error) {
          emit("closed", { id, error: error ? message(error) : null });
        },
        onMessage(topic, payload) {
          emit("rx", { id, topic, payload: text(payload) });
        },
      });
      clients.set(id, c);
      break;
    }
    case "sub":
      client(id).subscribe(cmd.filters, { qos: cmd.qos }).then(
        (results) => emit("subscribed", { id, results }),
        (e) => emit("subfail", { id, error: message(e) }),
      );
      break;
    case "pub":
      client(id).publish(cmd.topic, cmd.payload, { qos: cmd.qos ?? 0, retain: cmd.retain }).then(
        () => emit("acked", { id, topic: cmd.topic, payload: cmd.payload, qos: cmd.qos ?? 0 }),
        (e) => emit("pubfail", { id, topic: cmd.topic, error: message(e) }),
      );
      break;
    case "flush":
      client(id).flush(cmd.ms ?? 5000).then(
        () => emit("flushed", { id }),
        (e) => emit("flushfail", { id, error: message(e) }),
      );
      break;
    case "close":
      client(id).close();
      emit("closing", { id });
      break;
    case "shadow": {
      const shadow = new ShadowClient(client(id), { thingName: cmd.thing, timeoutMs: 5000 });
      shadows.set(id, shadow);
      shadow.onDelta("interval", (v) => {
        emit("delta", { id, key: "interval", value: v });
        return v;
      });
      shadow.start().then(
        (doc) => emit("synced", { id, version: shadow.version, exists: doc !== undefined }),
        (e) => emit("shadowfail", { id, error: message(e) }),
      );
      break;
    }
    case "report": {
      const shadow = shadows.get(id)!;
      shadow.report(cmd.state).then(
        () => emit("reported", { id, version: shadow.version }),
        (e) => emit("reportfail", { id, error: message(e) }),
      );
      break;
    }
    case "jobs": {
      const agent = new JobsAgent(client(id), { thingName: cmd.thing });
      agent.on("count", async (job) => {
        const steps = Number(job.execution.document.steps ?? 1);
        await job.progress({ step: "1" });
        emit("job", { id, jobId: job.execution.jobId, steps });
        await job.succeed({ counted: String(steps) });
      });
      agent.start().then(
        () => emit("jobs-started", { id }),
        (e) => emit("jobsfail", { id, error: message(e) }),
      );
      break;
    }
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

(globalThis as any).screen.onMessage = (line: string) => {
  try {
    run(JSON.parse(line));
  } catch (e) {
    emit("error", { error: message(e) });
  }
};
emit("ready", {
  system: Object.keys(System).sort(),
  frozenErrorPrototype: Object.isFrozen(Error.prototype),
  textDecoder: typeof (globalThis as any).TextDecoder,
});
