// A fake MqttConnection and manual timers for the shadow and jobs unit tests.
import type { MessageHandler, MqttConnection, PublishOptions, SubscribeOptions, SubscribeResult } from "../../../sdk/mqtt/types.ts";
import { topicMatches } from "../../../sdk/mqtt/topic.ts";

export const tick = () => new Promise<void>((r) => setImmediate(r));
export async function settle(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await tick();
}

export class FakeConn implements MqttConnection {
  published: { topic: string; json: any; raw: string }[] = [];
  subscribed: string[] = [];
  routes: { filter: string; handler: MessageHandler }[] = [];
  /** Decides SUBACK results (default: all granted at QoS 1). */
  grant: (filter: string) => SubscribeResult = (filter) => ({ filter, granted: 1 });
  /** Called after each publish (an auto-responding fake service). */
  responder?: (topic: string, json: any) => void;
  failPublish = false;
  publish(topic: string, payload: ArrayBuffer | Uint8Array | string, _o?: PublishOptions): Promise<void> {
    if (this.failPublish) return Promise.reject(new Error("connection lost"));
    const raw = typeof payload === "string" ? payload : new TextDecoder().decode(payload);
    const json = JSON.parse(raw);
    this.published.push({ topic, json, raw });
    setImmediate(() => this.responder?.(topic, json));
    return Promise.resolve();
  }
  async subscribe(filters: string | string[], _o?: SubscribeOptions): Promise<SubscribeResult[]> {
    const list = typeof filters === "string" ? [filters] : filters;
    this.subscribed.push(...list);
    return list.map((f) => this.grant(f));
  }
  async unsubscribe(): Promise<void> {}
  route(filter: string, handler: MessageHandler): () => void {
    const e = { filter, handler };
    this.routes.push(e);
    return () => {
      this.routes = this.routes.filter((r) => r !== e);
    };
  }
  /** Delivers a message as the broker would (handlers must not throw). */
  deliver(topic: string, payload: object | string | Uint8Array): void {
    const bytes = payload instanceof Uint8Array ? payload : new TextEncoder().encode(typeof payload === "string" ? payload : JSON.stringify(payload));
    for (const r of this.routes.slice()) if (topicMatches(r.filter, topic)) r.handler(topic, bytes.slice().buffer, {});
  }
  last(suffix: string): { topic: string; json: any } | undefined {
    for (let i = this.published.length - 1; i >= 0; i--) if (this.published[i].topic.endsWith(suffix)) return this.published[i];
    return undefined;
  }
}

export class FakeTimers {
  now = 0;
  private seq = 1;
  private list: { id: number; at: number; cb: () => void }[] = [];
  setTimeout = (cb: () => void, ms: number): number => {
    const id = this.seq++;
    this.list.push({ id, at: this.now + ms, cb });
    return id;
  };
  clearTimeout = (id: number | undefined): void => {
    this.list = this.list.filter((t) => t.id !== id);
  };
  get pending(): number {
    return this.list.length;
  }
  /** Moves time forward, firing due timers in order, letting promises settle between. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await settle();
      this.list.sort((a, b) => a.at - b.at);
      const t = this.list[0];
      if (!t || t.at > end) break;
      this.list.shift();
      this.now = t.at;
      t.cb();
    }
    this.now = end;
    await settle();
  }
}
