// Bench device for Moddable's own ECMA-419 MQTT client (bench/mqtt.bench.ts):
// "embedded:network/mqtt/client" is mapped at run time to
// $MODDABLE/examples/io/tcp/mqttclient/mqttclient.js (never copied here). The same
// work as test/mqtt-xs/apps/bench: connect (MQTT 3.1.1), subscribe to bench/in,
// QoS 1 publishes of 64 bytes counted at PUBACK, messages received counted
// when their payload has been read.
import config from "mc/config";
import TCP from "embedded:io/socket/tcp";
import MQTTClient from "embedded:network/mqtt/client";

// The client resolves its host first (examples/io/tcp/mqttclient/config.js uses
// embedded:network/dns/resolver/udp); the bench gives it a dotted address already.
class Resolver {
  resolve(options) {
    options.onResolved(options.host, options.host);
  }
}

let client;
let received = 0;
let acked = 0;
let subscribed = false;
const payload64 = new Uint8Array(64).fill(0x42).buffer;

function start() {
  client = new MQTTClient({
    host: "127.0.0.1",
    port: config.port,
    id: "moddable-bench",
    keepalive: 0,
    dns: { io: Resolver },
    socket: { io: TCP },
    onControl(msg) {
      if (MQTTClient.CONNACK === msg.operation) {
        this.write(null, { operation: MQTTClient.SUBSCRIBE, items: [{ topic: "bench/in", QoS: 0 }] });
      } else if (MQTTClient.SUBACK === msg.operation) {
        subscribed = true;
        trace("subscribed");
      } else if (MQTTClient.PUBACK === msg.operation) acked++;
    },
    onReadable(count, options) {
      this.read(count);
      if (options.more === undefined || !options.more) received++;
    },
    onError() {
      trace("moddable client error");
    },
  });
}

function pub(n) {
  for (let i = 0; i < n; i++) client.write(payload64, { topic: "bench/out", QoS: 1 });
}

globalThis.bench = {
  start,
  pub,
  get received() {
    return received;
  },
  get acked() {
    return acked;
  },
  get subscribed() {
    return subscribed;
  },
};
trace("ready");
