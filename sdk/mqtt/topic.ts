// MQTT topic names and filters (MQTT 4.7): validation and wildcard matching.

/** A topic name to publish to: non-empty, no wildcards. */
export function isValidTopic(topic: string): boolean {
  return topic.length > 0 && topic.indexOf("+") < 0 && topic.indexOf("#") < 0;
}

/** A topic filter: "+" alone in a level, "#" alone and last; shared subscriptions "$share/group/filter". */
export function isValidFilter(filter: string): boolean {
  if (!filter.length) return false;
  const levels = filter.split("/");
  let start = 0;
  if (levels[0] === "$share") {
    if (levels.length < 3 || !levels[1] || levels[1].indexOf("+") >= 0 || levels[1].indexOf("#") >= 0) return false;
    start = 2;
  }
  for (let i = start; i < levels.length; i++) {
    const l = levels[i];
    if (l === "+") continue;
    if (l === "#") {
      if (i !== levels.length - 1) return false;
      continue;
    }
    if (l.indexOf("+") >= 0 || l.indexOf("#") >= 0) return false;
  }
  return true;
}

/**
 * True when `topic` matches `filter`. Wildcards at the first level do not
 * match topics starting with "$" (MQTT 4.7.2). A shared subscription filter
 * matches as its inner filter.
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter.startsWith("$share/")) {
    const i = filter.indexOf("/", 7);
    if (i < 0) return false;
    filter = filter.slice(i + 1);
  }
  // Most filters are plain topics (shadow, jobs, stream replies): one native comparison.
  if (filter.indexOf("+") < 0 && filter.indexOf("#") < 0) return filter === topic;
  if (topic.charCodeAt(0) === 36 /* $ */ && (filter.charCodeAt(0) === 43 || filter.charCodeAt(0) === 35)) return false;
  let f = 0, t = 0;
  const fl = filter.length, tl = topic.length;
  for (;;) {
    // Compare one level.
    const fe = indexOrEnd(filter, f), te = indexOrEnd(topic, t);
    const fLevel = fe - f;
    if (fLevel === 1 && filter.charCodeAt(f) === 35) return true; // "#": this level and all below (also the parent)
    if (t > tl) return false;
    if (!(fLevel === 1 && filter.charCodeAt(f) === 43)) {
      if (fLevel !== te - t || filter.slice(f, fe) !== topic.slice(t, te)) return false;
    }
    f = fe + 1;
    t = te + 1;
    if (f > fl) return t > tl;
    if (t > tl) {
      // Topic ended: only a trailing "#" still matches ("a/#" matches "a").
      return fl - f === 1 && filter.charCodeAt(f) === 35;
    }
  }
}

function indexOrEnd(s: string, from: number): number {
  const i = s.indexOf("/", from);
  return i < 0 ? s.length : i;
}
