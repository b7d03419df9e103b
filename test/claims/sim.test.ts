// Claims the README makes about the virtual ESP32 that no other test checked (issue 13
// item 7): NVS name limits and NOR flash semantics seen from XS, a tampered image of the
// same length refused at boot, and a cold versus a cached Wi-Fi join.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import { buildApp } from "../../tools/sim/image.ts";
import { loadBoard } from "../../tools/sim/board.ts";
import { image, makeDevice, simulate } from "../sim/helpers.ts";

const MIN = 60_000;

test("NVS names are 1-15 characters and raw flash is NOR (a write only clears bits, an erase sets them), from XS", async () => {
  const r = await simulate(buildApp(new URL("./apps/storage", import.meta.url).pathname), 10_000);
  type Probe = { what: string; ok: boolean; value?: any; error?: string };
  const results: Record<string, Probe> = Object.fromEntries(r.logs.map((l) => JSON.parse(l) as Probe).map((o) => [o.what, o]));
  assert.deepEqual(results["namespace 15"], { what: "namespace 15", ok: true, value: "fifteen" }, "15 characters is the limit, and allowed");
  assert.equal(results["namespace 16"]?.ok, false, "a 16-character namespace is refused");
  assert.equal(results["key 16"]?.ok, false, "a 16-character key is refused");
  assert.equal(results["key empty"]?.ok, false, "an empty key is refused");
  assert.equal(results.nor?.ok, true, JSON.stringify(results.nor));
  assert.deepEqual(results.nor.value.steps, [0xff, 0xf0, 0x00, 0x00, 0xff]);
  assert.equal(results.nor.value.blockLength, loadBoard("esp-wroom-32").flash.blockLength);
});

test("a tampered image of the same length never boots: the boot loader keeps the valid one", async () => {
  const v1 = image("otaapp", { version: "1.0.0", selfTest: "pass" });
  const v2 = buildApp(new URL("../sim/apps/otaapp", import.meta.url).pathname, { config: { version: "2.0.0", selfTest: "pass" } });
  const tampered = Uint8Array.from(v2.bytes);
  const at = tampered.length >> 1; // inside the body, far from header and digest
  tampered[at] ^= 0x01;
  assert.equal(tampered.length, v2.bytes.length);
  const { device, events } = makeDevice(v1);
  device.at(30_000, () => {
    device.storage.flashWrite("ota_1", 0, tampered);
    device.storage.writeOtaData({ boot: "ota_1", states: { ota_0: "valid", ota_1: "new" } });
  });
  try {
    await device.run(3 * MIN);
  } finally {
    device.shutdown();
  }
  const logs = events.filter((e) => e.type === "log").map((e) => String(e.text));
  assert.ok(!logs.some((l) => l.startsWith("running 2.0.0")), `the tampered image ran: ${logs.join(" | ")}`);
  assert.equal(device.runningImage?.version, "1.0.0");
  const skip = events.find((e) => e.type === "boot-skip");
  assert.ok(skip, "the boot loader says it skipped the image");
  assert.match(String((skip as { reason?: unknown }).reason), /verif|SHA-256|tampered/);
  assert.ok(events.filter((e) => e.type === "boot").length >= 2, "it did try to boot after the switch");
});

test("Wi-Fi join: cold (board's wifiJoinMs) after power-on, cached (wifiJoinCachedMs) on later wakes, cold again after a power cut", async () => {
  const board = loadBoard("esp-wroom-32");
  const server = createServer((s) => s.on("data", (d) => s.write(`echo ${d}`)));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  const { device, events } = makeDevice("net", { deviceConfig: { port } });
  // The app echoes once per wake and deep-sleeps 60 s; cut power during the third sleep.
  device.at(2 * MIN + 30_000, () => device.powerCut(1000));
  try {
    await device.run(5 * MIN);
  } finally {
    device.shutdown();
    server.close();
  }
  const joins = events.filter((e) => e.type === "wifi-join") as unknown as { cached: boolean; ms: number; t: number }[];
  const flags = joins.map((j) => j.cached);
  // A cut during deep sleep shows as the next boot's reset reason.
  const powerOns = events.map((e, i) => [e, i] as const).filter(([e]) => e.type === "boot" && e.resetReason === "power-on");
  assert.equal(powerOns.length, 2, "power-on, then the cut");
  const cut = powerOns[1][1];
  const before = joins.filter((j) => j.t < events[cut].t).map((j) => j.cached);
  const after = joins.filter((j) => j.t > events[cut].t).map((j) => j.cached);
  assert.ok(before.length >= 3 && after.length >= 2, `joins: ${JSON.stringify(flags)}`);
  assert.deepEqual(before, [false, ...before.slice(1).map(() => true)], "cold first, cached after (deep sleep keeps the cache)");
  assert.deepEqual(after, [false, ...after.slice(1).map(() => true)], "power-on forgets the cache");
  for (const j of joins) assert.equal(j.ms, j.cached ? board.power.wifiJoinCachedMs.value : board.power.wifiJoinMs.value);
  assert.ok(board.power.wifiJoinCachedMs.value < board.power.wifiJoinMs.value);
  // The join is virtual time the wake spends: from boot to the socket opening.
  for (const [i, e] of events.entries()) {
    if (e.type !== "wifi-join") continue;
    const boot = events.slice(0, i).reverse().find((x) => x.type === "boot")!;
    assert.ok(e.t - boot.t >= (e as unknown as { ms: number }).ms, `join of ${(e as unknown as { ms: number }).ms} ms took ${e.t - boot.t} ms of the wake`);
  }
});
