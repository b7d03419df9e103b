// A minimal xsiot app: every `everyMs` publish a reading, CBOR-encoded, at QoS 1 over
// MQTT 5 to the broker named in the manifest's config. Wi-Fi comes up before this module
// runs (Moddable's setup/network, from manifest_net.json, with ssid/password given to mcconfig).
import config from "mc/config";
import Timer from "timer";
import { MQTTClient } from "xsiot/mqtt/client";
import { encode } from "xsiot/cbor/encode";

interface AppConfig {
  broker: { host: string; port: number };
  thing: string;
  everyMs: number;
}
const { broker, thing, everyMs } = config as unknown as AppConfig;

const client = new MQTTClient({
  host: broker.host,
  port: broker.port,
  clientId: thing,
  version: 5,
  keepAlive: 60,
  will: { topic: `things/${thing}/status`, payload: "offline", qos: 1, retain: true },
  onConnect(info) {
    trace(`connected, session present: ${info.sessionPresent}\n`);
  },
  onClose(error) {
    if (error) trace(`connection closed: ${error.message}\n`);
  },
});

let count = 0;
Timer.repeat(() => {
  const reading = { n: ++count, uptimeMs: Date.now() };
  client.publish(`dt/${thing}/telemetry`, encode(reading), { qos: 1 }).then(
    () => trace(`reading ${reading.n} acknowledged\n`),
    (e: Error) => trace(`reading ${reading.n} not sent: ${e.message}\n`),
  );
}, everyMs);
