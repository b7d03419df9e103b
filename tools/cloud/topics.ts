// MQTT topic filter helpers shared by the bus, the policy and the services.

/** True if `topic` (no wildcards) matches `filter` (MQTT 3.1.1 §4.7). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return !(i === 0 && topic.startsWith("$"));
    if (i >= t.length) return false;
    if (f[i] === "+") {
      if (i === 0 && topic.startsWith("$")) return false;
      continue;
    }
    if (f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** True if every topic matched by `requested` is also matched by `allowed`
 * (both may hold wildcards): the test a policy applies to a SUBSCRIBE. */
export function filterCovers(allowed: string, requested: string): boolean {
  const a = allowed.split("/");
  const r = requested.split("/");
  for (let i = 0; i < a.length; i++) {
    if (a[i] === "#") return true;
    if (i >= r.length) return false;
    if (r[i] === "#") return false;
    if (a[i] === "+") continue;
    if (r[i] === "+" || a[i] !== r[i]) return false;
  }
  return a.length === r.length;
}

/** Splits `$aws/things/<thing>/<rest>`; undefined if the topic is not a thing topic. */
export function thingTopic(topic: string): { thing: string; rest: string[] } | undefined {
  const p = topic.split("/");
  if (p.length < 4 || p[0] !== "$aws" || p[1] !== "things" || !p[2]) return undefined;
  return { thing: p[2], rest: p.slice(3) };
}
