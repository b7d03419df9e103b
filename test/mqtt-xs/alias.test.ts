// The outbound topic-alias rewrite (v5.ts withTopicAlias splices the
// property into our own encoded v5 PUBLISH instead of decoding and re-encoding
// it), checked against mqtt-packet's parser.
import { test } from "node:test";
import assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import { encode, PUBLISH } from "../../sdk/mqtt/codec.ts";
import { withTopicAlias } from "../../sdk/mqtt/v5.ts";

function parse(bytes: Uint8Array): any {
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  let out: any;
  let error: Error | undefined;
  parser.on("packet", (p: any) => (out = p));
  parser.on("error", (e: Error) => (error = e));
  parser.parse(Buffer.from(bytes));
  if (error) throw error;
  return out;
}

test("withTopicAlias: every QoS, with and without properties, short and long payloads, topic kept or dropped", () => {
  let n = 0;
  for (const qos of [0, 1, 2] as const) {
    for (const props of [undefined, { contentType: "application/cbor", userProperties: [["k", "v"]] as [string, string][], messageExpiryInterval: 60 }]) {
      for (const size of [0, 64, 200, 20000]) {
        for (const drop of [false, true]) {
          const payload = new Uint8Array(size).map((_, i) => i & 0xff);
          const topic = "dt/thing-1/telemetry/" + "x".repeat(size % 150);
          const packet = encode({ type: PUBLISH, topic, payload, qos, retain: size === 64, dup: false, packetId: qos ? 513 : undefined, properties: props } as any, 5);
          const alias = 1 + (n++ % 300);
          const out = withTopicAlias(packet, alias, drop)!;
          const p = parse(out);
          assert.equal(p.cmd, "publish");
          assert.equal(p.topic, drop ? "" : topic);
          assert.equal(p.qos, qos);
          assert.equal(p.retain, size === 64);
          if (qos) assert.equal(p.messageId, 513);
          assert.equal(p.properties.topicAlias, alias);
          if (props) {
            assert.equal(p.properties.contentType, "application/cbor");
            assert.equal(p.properties.messageExpiryInterval, 60);
            assert.equal(p.properties.userProperties.k, "v");
          }
          assert.deepEqual(new Uint8Array(p.payload), payload);
        }
      }
    }
  }
});
