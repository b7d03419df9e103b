// Jobs e2e app: runs "count-steps" jobs one step per wake. Each wake: connect,
// start the jobs agent (start-next), run or resume the job's next step, save
// progress, then deep sleep; the last step succeeds the job.
import config from "mc/config";
import { MQTTClient } from "xsiot/mqtt/client";
import { JobsAgent } from "xsiot/jobs/agent";
import { deepSleep } from "xsiot/native/esp32";

const c = config as unknown as { port: number; thing: string; mqttVersion?: 4 | 5; sleepS?: number };
trace("boot");

const client = new MQTTClient({
  host: "127.0.0.1",
  port: c.port,
  clientId: c.thing,
  version: c.mqttVersion ?? 4,
  keepAlive: 60,
  session: { clean: true },
  reconnect: false,
  onClose(e) {
    if (e) trace(`mqtt closed: ${e.message}`);
  },
});

const agent = new JobsAgent(client, { thingName: c.thing, timeoutMs: 5000, progressIntervalMs: 1000 });
agent.on("count-steps", async (job) => {
  const steps = job.execution.document.steps;
  if (typeof steps !== "number" || !Number.isInteger(steps) || steps < 1 || steps > 10) {
    await job.fail(`steps must be an integer 1..10, got ${JSON.stringify(steps)}`);
    return;
  }
  const saved = job.load();
  const done = (saved && typeof saved.done === "number" ? saved.done : 0) + 1;
  job.save({ done });
  trace(`step ${done}/${steps} of ${job.execution.jobId}${saved ? " (resumed)" : ""}`);
  await job.progress({ step: `${done}/${steps}` });
  if (done >= steps) await job.succeed({ steps: String(done) });
  // Otherwise return: the execution stays IN_PROGRESS and resumes at the next wake.
});

async function main(): Promise<void> {
  await agent.start();
  await agent.idle(20000);
  await client.flush(5000);
}

main().then(
  () => {
    client.close();
    trace("sleeping");
    deepSleep({ us: (c.sleepS ?? 30) * 1_000_000 });
  },
  (e: Error) => {
    trace(`error: ${e.message}`);
    client.close();
    deepSleep({ us: (c.sleepS ?? 30) * 1_000_000 });
  },
);
