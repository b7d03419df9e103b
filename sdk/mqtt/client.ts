import { MQTTClient as Client311, type MQTTClientOptions } from "./client311";
import { v5 } from "./v5";
import { secure } from "./tls";

// The full MQTT client: 3.1.1 and 5.0 (the default), QoS 0/1/2, persistent
// sessions, pipelining. An app that speaks only 3.1.1 imports ./client311
// instead and never loads the MQTT 5 property codec (./v5).

export type { MQTTClientOptions, Done, Extensions } from "./client311";
export type { ConnectInfo, SessionLimits, MqttCounters } from "./session";

export class MQTTClient extends Client311 {
  constructor(options: MQTTClientOptions) {
    super(options, { v5, secure });
  }
}

export default MQTTClient;
