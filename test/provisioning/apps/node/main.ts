// Sensor node first boot: provision by claim (or load the stored identity), then
// connect as the thing, report to its shadow and publish telemetry, then sleep.
// On a provisioning failure: trace it and deep-sleep for the backoff the SDK gives.
import config from "mc/config";
import { MQTTClient } from "xsiot/mqtt/client";
import { provision, ProvisioningError } from "xsiot/provisioning/provision";
import { deepSleep } from "xsiot/native/esp32";
import TLS from "embedded:io/socket/tcp/tls";

const c = config as unknown as {
  port: number;
  ca: string;
  serial: string;
  template: string;
  claim?: { certificate: string; key: string };
  csr?: { csr: string; key: string };
};
const HOUR_US = 3_600_000_000;

function asThing(id: { thingName: string; certificate: string; key: string }): void {
  let done = false;
  const client = new MQTTClient({
    host: "127.0.0.1",
    port: c.port,
    clientId: id.thingName,
    tls: { ca: c.ca, certificate: id.certificate, key: id.key },
    socket: TLS,
    reconnect: false,
    onClose(error) {
      if (!done && error) {
        trace(`thing connection failed: ${error.message}\n`);
        deepSleep({ us: 60_000_000 });
      }
    },
  });
  client.publish(`$aws/things/${id.thingName}/shadow/update`, JSON.stringify({ state: { reported: { serial: c.serial, fw: "1.0.0" } } }), { qos: 1 });
  client.publish(`dt/${id.thingName}/boot`, JSON.stringify({ serial: c.serial }), { qos: 1 });
  client.flush(10_000).then(
    () => {
      done = true;
      trace(`published as ${id.thingName}\n`);
      client.close();
      deepSleep({ us: HOUR_US });
    },
    (e: Error) => {
      done = true;
      trace(`publish as thing failed: ${e.message}\n`);
      client.close();
      deepSleep({ us: 60_000_000 });
    },
  );
}

provision({
  host: "127.0.0.1",
  port: c.port,
  ca: c.ca,
  clientId: c.serial,
  templateName: c.template,
  parameters: { SerialNumber: c.serial, board: "esp-wroom-32" },
  claim: c.claim,
  csr: c.csr,
  timeoutMs: 20_000,
}).then(
  (id) => {
    trace(`identity ${id.thingName} (${id.provisionedNow ? "provisioned now" : "stored"})\n`);
    asThing(id);
  },
  (e: unknown) => {
    if (e instanceof ProvisioningError) {
      trace(`provisioning failed: ${e.message}; attempt ${e.attempts}, retry in ${Math.round(e.retryAfterMs / 1000)} s\n`);
      deepSleep({ us: e.retryAfterMs * 1000 });
    }
    trace(`provisioning crashed: ${e}\n`);
    deepSleep({ us: 60_000_000 });
  },
);
