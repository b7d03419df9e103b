// The SDK's UTF-8 codec on the virtual ESP32 (the real XS engine), against Node's
// own encoder and strict decoder as the reference: XS runs other code paths than
// Node (its native ArrayBuffer.fromString / String.fromArrayBuffer), so the same
// cases must give the same bytes and refuse the same malformed input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildApp } from "../../tools/sim/image.ts";
import { simulate } from "../sim/helpers.ts";

const strings = [
  "",
  "short",
  "an ascii topic/with/levels/0123456789",
  "caf\u00e9 cr\u00e8me \u20ac 100 \u4e2d\u6587 \u0800\uffff",
  "astral \ud83d\ude00\ud83d\ude01 between ascii",
  "nul\u0000in the middle of a long enough string",
  "x".repeat(3000) + "\u00e9",
];
const bad = [
  // [bytes, the problem sdk/text/utf8.ts reports]; each longer than 8 bytes so XS takes its native path.
  [[0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xc0, 0x80], "lead"],
  [[0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xe0, 0x80, 0x80], "overlong"],
  [[0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xed, 0xa0, 0x80], "surrogate"],
  [[0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xf5, 0x80, 0x80, 0x80], "lead"],
  [[0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xf4, 0x90, 0x80, 0x80], "range"],
  [[0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xe2, 0x82], "truncated"],
  [[0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xe2, 0x41, 0x41], "continuation"],
] as const;

test("utf8 codec on XS: same bytes as Node's encoder, the same refusals as a strict decoder", async () => {
  const app = buildApp(new URL("./apps/utf8", import.meta.url).pathname);
  const r = await simulate(app, 1000, { deviceConfig: { strings, bad: bad.map(([b]) => b) } });
  const lines = r.logs.map((l) => l.trim());
  strings.forEach((s, i) => {
    const want = Buffer.from(s, "utf8").toString("hex");
    assert.ok(lines.includes(`string ${i} ok ${want}`.trim()), `string ${i}: ${lines.find((l) => l.startsWith(`string ${i} `))}\n${lines.join("\n")}`);
  });
  const strict = new TextDecoder("utf-8", { fatal: true });
  bad.forEach(([bytes, problem], i) => {
    assert.throws(() => strict.decode(Uint8Array.from(bytes)), TypeError, `case ${i} is malformed for Node too`);
    const line = lines.find((l) => l.startsWith(`bad ${i} `));
    assert.match(line ?? "", new RegExp(`^bad ${i} ${problem}@`), lines.join("\n"));
  });
});
