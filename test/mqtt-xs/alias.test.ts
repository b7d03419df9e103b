// Outbound topic aliases: the session encodes each PUBLISH at its send with the
// alias it has on that connection (v5.ts alias(); session.ts encode()), never
// rewriting an encoded packet. Every packet is checked with mqtt-packet's parser.
import { test } from "node:test";
import assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import { Session, type SessionEvents } from "../../sdk/mqtt/session.ts";
import { v5 } from "../../sdk/mqtt/v5.ts";

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

function connected(topicAliasMaximum: number) {
  const sent: any[] = [];
  const failed: unknown[] = [];
  const ev: SessionEvents = {
    send: (b) => sent.push(parse(b)),
    timer() {},
    up() {},
    message() {},
    done: (op, e) => e && failed.push([op, e]),
    down() {},
  };
  const s = new Session({ version: 5, clientId: "c", keepAlive: 0, clean: true, limits: { maxQueued: 1000, maxInflight: 1000, topicAliasMaximum: 300 } }, ev, v5);
  s.open(0);
  const connack = mqttPacket.generate({ cmd: "connack", reasonCode: 0, sessionPresent: false, properties: { topicAliasMaximum, receiveMaximum: 1000 } } as any, { protocolVersion: 5 });
  s.receive(new Uint8Array(connack), 0);
  sent.length = 0;
  return { s, sent, failed };
}

test("topic alias: set with the topic at its first use, then an empty topic; every QoS, with and without properties, short and long payloads", () => {
  const { s, sent, failed } = connected(300);
  let n = 0;
  for (const qos of [0, 1, 2] as const) {
    for (const props of [undefined, { contentType: "application/cbor", userProperties: [["k", "v"]] as [string, string][], messageExpiryInterval: 60 }]) {
      for (const size of [0, 64, 200, 20000]) {
        const payload = new Uint8Array(size).map((_, i) => i & 0xff);
        const topic = "dt/thing-1/telemetry/" + "x".repeat(size % 150) + n++;
        for (const first of [true, false]) {
          s.publish(topic, payload, qos, size === 64, props, n, 0);
          const p = sent.pop();
          assert.equal(p.cmd, "publish");
          assert.equal(p.topic, first ? topic : "");
          assert.equal(p.qos, qos);
          assert.equal(p.retain, size === 64);
          if (qos) assert.ok(p.messageId > 0);
          assert.equal(p.properties.topicAlias, n);
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
  assert.deepEqual(failed, []);
});

test("topic alias: beyond the server's maximum a topic goes in full; a resend after reconnect carries the full topic with DUP", () => {
  const { s, sent } = connected(1);
  const b = new Uint8Array([1, 2, 3]);
  s.publish("a/one", b, 1, false, undefined, 1, 0);
  s.publish("a/two", b, 1, false, undefined, 2, 0);
  s.publish("a/one", b, 1, false, undefined, 3, 0);
  assert.deepEqual(sent.map((p) => [p.topic, p.properties?.topicAlias]), [["a/one", 1], ["a/two", undefined], ["", 1]]);
  sent.length = 0;
  s.lost(0);
  s.open(1);
  const resent = sent.filter((p) => p.cmd === "publish");
  assert.deepEqual(resent.map((p) => [p.topic, p.dup, p.properties?.topicAlias]), [["a/one", true, undefined], ["a/two", true, undefined], ["a/one", true, undefined]]);
});
