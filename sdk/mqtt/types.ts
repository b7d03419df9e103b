// Public shapes of the MQTT client, shared by the client and the SDK modules
// built on it (shadow, jobs, OTA, provisioning), so those can be written and
// tested against this contract alone.

export type QoS = 0 | 1 | 2;
export type ProtocolVersion = 4 | 5;

/** MQTT 5 PUBLISH properties the SDK exposes (subset; unknown ones are kept in userProperties). */
export interface PublishProperties {
  payloadFormatIndicator?: 0 | 1;
  messageExpiryInterval?: number;
  topicAlias?: number;
  responseTopic?: string;
  correlationData?: Uint8Array;
  userProperties?: [string, string][];
  subscriptionIdentifiers?: number[];
  contentType?: string;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  properties?: PublishProperties;
}

export interface SubscribeOptions {
  qos?: QoS;
  /** v5 only */
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
}

/** One result per topic filter: the granted QoS, or a failure reason code (>= 0x80). */
export type SubscribeResult = { filter: string; granted: QoS } | { filter: string; reasonCode: number };

export type MessageHandler = (topic: string, payload: ArrayBuffer, properties: PublishProperties) => void;

/**
 * What SDK services need from an MQTT connection. MQTTClient implements it;
 * tests may implement it over anything.
 */
export interface MqttConnection {
  publish(topic: string, payload: ArrayBuffer | Uint8Array | string, options?: PublishOptions): Promise<void>;
  subscribe(filters: string | string[], options?: SubscribeOptions): Promise<SubscribeResult[]>;
  unsubscribe(filters: string | string[]): Promise<void>;
  /** Adds a handler for messages whose topic matches filter (MQTT wildcards). Returns a remover. */
  route(filter: string, handler: MessageHandler): () => void;
}
