// Commands e2e app: every wake connects with a persistent session, runs the
// commands that arrive ("blink" at once, "slow" over 2 s), then deep sleeps.
import config from "mc/config";
import Timer from "timer";
import { MQTTClient } from "xsiot/mqtt/client";
import { CommandHandler } from "xsiot/commands/handler";
import { deepSleep } from "xsiot/native/esp32";

const c = config as unknown as { port: number; thing: string; mqttVersion?: 4 | 5; sleepS?: number; host?: string };
trace("boot");

const client = new MQTTClient({
  host: c.host ?? "127.0.0.1",
  port: c.port,
  clientId: c.thing,
  version: c.mqttVersion ?? 4,
  keepAlive: 60,
  session: { clean: false },
  reconnect: false,
  onClose(e) {
    if (e) trace(`mqtt closed: ${e.message}`);
  },
});

const commands = new CommandHandler(client, { thingName: c.thing, log: (line) => trace(line) });
commands.on("blink", (cmd) => {
  trace(`ran blink ${cmd.executionId} ${JSON.stringify(cmd.payload)}`);
});
commands.on("slow", (cmd) => {
  trace(`slow started ${cmd.executionId}`);
  return new Promise((resolve) => Timer.set(() => resolve(), 2000));
});

function sleep(): void {
  client.close();
  trace("sleeping");
  deepSleep({ us: (c.sleepS ?? 60) * 1_000_000 });
}

async function main(): Promise<void> {
  await commands.start();
  // Held commands arrive right after the subscription; give them a moment, then wait for them to end.
  await new Promise<void>((resolve) => Timer.set(() => resolve(), 500));
  await commands.idle(10_000);
  await client.flush(5000);
}

main().then(sleep, (e: Error) => {
  trace(`error: ${e.message}`);
  sleep();
});
