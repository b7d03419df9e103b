// The web console in a real browser (Debian's Chromium, driven by playwright-core
// through its executable: nothing is downloaded), against `npm start`'s fleet
// (`xsiot demo`) in accelerated virtual time:
//   - the fleet table shows the three nodes, and their clock and readings move;
//   - a shadow edit made in the page reaches the node at its next uplink and its
//     reported state comes back into the page (a stale version shows a conflict);
//   - a command sent from the page (with a time to live) reaches the node at its
//     next uplink and shows SUCCEEDED; a bad time to live shows the API's error;
//   - a thing flooding the broker (an MQTT.js client) raises a Device Defender
//     alarm that appears in the fleet page;
//   - an OTA published from the page moves every progress bar to 100% and the
//     fleet's version column changes;
//   - a cloud on a non-loopback address refuses the page and the API until the
//     login form gets the token.
// Screenshots of the main views go to .xsiot/screenshots/, or to the folder in
// XSIOT_SCREENSHOTS (XSIOT_SCREENSHOTS=docs/console refreshes the README's).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import mqtt from "mqtt";
import { once } from "node:events";
import type { BrowserContext, Page } from "playwright-core";
import { startCloud, silentLogger } from "../../tools/cloud/index.ts";

// Functions passed to page.waitForFunction run in the page; this is all they use of it.
declare const document: { querySelector(sel: string): { textContent: string | null } | null };

const root = new URL("../..", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`;
const SHOTS = resolve(root, process.env.XSIOT_SCREENSHOTS ?? ".xsiot/screenshots");
// 1 virtual hour per real second: an uplink (every 6 virtual hours) comes every ~6 s.
const SPEED = 3600;

let demo: ChildProcess | undefined;
let url = "";
let demoDir = "";
let context: BrowserContext | undefined;
let page: Page;
const dirs: string[] = [];

async function launch(): Promise<BrowserContext> {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "xsiot-chromium-"));
  dirs.push(profile);
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 800 },
  });
}

before(async () => {
  if (skip) return;
  const dir = mkdtempSync(join(tmpdir(), "xsiot-console-demo-"));
  dirs.push(dir);
  demoDir = dir;
  demo = spawn(process.execPath, [join(root, "bin/xsiot.js"), "demo", "--speed", String(SPEED), "--http-port", "0", "--dir", dir], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  demo.stderr!.on("data", (c) => (err += c));
  url = await new Promise<string>((resolve, reject) => {
    const onData = (c: Buffer) => {
      out += c;
      const m = /web console: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        demo!.stdout!.off("data", onData);
        demo!.stdout!.resume();
        resolve(m[1]);
      }
    };
    demo!.stdout!.on("data", onData);
    demo!.once("exit", (code) => reject(new Error(`demo exited ${code} before printing the console URL:\n${out}\n${err}`)));
  });
  context = await launch();
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(60_000);
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await context?.close();
  if (demo && demo.exitCode === null) {
    demo.kill("SIGINT");
    await once(demo, "exit");
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const things = ["sensor-SN-001", "sensor-SN-002", "sensor-SN-003"];
const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

test("fleet: the table shows the three nodes, with readings and a moving clock", { skip }, async () => {
  await page.goto(url);
  for (const t of things) await page.waitForSelector(`#fleet tr[data-thing="${t}"] td.battery:not(:text-is("–"))`);
  const clock1 = await page.textContent("#clock");
  await page.waitForFunction((c) => document.querySelector("#clock")?.textContent !== c, clock1);
  // Readings advance: the device's sample count moves between two fleet updates.
  const count1 = await page.textContent(`#fleet tr[data-thing="${things[0]}"] td.readings`);
  await page.waitForFunction(([sel, c]) => document.querySelector(sel)?.textContent !== c, [`#fleet tr[data-thing="${things[0]}"] td.readings`, count1] as const);
  for (const t of things) {
    assert.equal(await page.textContent(`#fleet tr[data-thing="${t}"] td.version`), "1.0.0");
    assert.match((await page.textContent(`#fleet tr[data-thing="${t}"] td.reading`))!, /°C/);
  }
  // The filter narrows the table.
  await page.fill("#filter", "SN-002");
  assert.equal(await page.locator("#fleet tbody tr[data-thing]").count(), 1);
  await page.fill("#filter", "");
  await page.waitForSelector(`#fleet tr[data-thing="${things[2]}"] td.life:not(:text-is("–"))`);
  await shot("fleet");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("fleet-phone");
  await page.setViewportSize({ width: 1280, height: 800 });
});

test("thing: a shadow edit reaches the node at its next uplink and its reported state comes back", { skip }, async () => {
  await page.goto(`${url}#/thing/${things[0]}`);
  await page.waitForSelector("#shadow-reported:has-text('version')");
  await page.waitForSelector("#plot canvas");
  // A stale expected version is refused, plainly, and the text stays.
  await page.fill("#desired", '{"config":{"sampleS":600}}');
  await page.fill("#expected-version", "0");
  await page.click("#shadow-send");
  await page.waitForSelector(".msg.conflict");
  assert.match((await page.textContent(".msg.conflict"))!, /Version conflict/);
  assert.equal(await page.inputValue("#desired"), '{"config":{"sampleS":600}}');
  // Bad JSON gets a clear message, not a broken page.
  await page.fill("#desired", "{config:");
  await page.click("#shadow-send");
  await page.waitForSelector(".msg.error:has-text('Not valid JSON')");
  // The real edit, at the current version.
  await page.click("#shadow-reload");
  await page.fill("#desired", '{"config":{"sampleS":600}}');
  await page.click("#shadow-send");
  await page.waitForSelector(".msg.done");
  // Pending (in the delta) until the device syncs, unless its uplink already came.
  const pending = /sampleS/.test((await page.textContent("#shadow-delta"))!);
  assert.ok(pending || /"sampleS": 600/.test((await page.textContent("#shadow-reported"))!), "the edit shows as delta or as reported");
  await page.waitForSelector('#shadow-reported:has-text("\\"sampleS\\": 600")', { timeout: 90_000 });
  assert.doesNotMatch((await page.textContent("#shadow-delta"))!, /sampleS/, "no delta once reported");
  await shot("thing");
});

test("thing: a command sent from the page reaches the node at its next uplink and shows SUCCEEDED; bad input gets the API's error", { skip }, async () => {
  const t = things[2];
  await page.goto(`${url}#/thing/${t}`);
  await page.waitForSelector("#commands tbody tr");
  // A time to live the API does not understand: its own message, and the page stays whole.
  await page.fill("#command-ttl", "soon");
  await page.click("#command-send");
  await page.waitForSelector("#command-result .msg.error");
  assert.match((await page.textContent("#command-result"))!, /InvalidRequest: ttl must be a number of seconds or like .*got "soon"/);
  await page.fill("#command-payload", "{times:");
  await page.click("#command-send");
  await page.waitForSelector("#command-result .msg.error:has-text('not valid JSON')");
  assert.equal(await page.locator("#commands tr[data-name]").count(), 0, "nothing was sent");
  // The cloud's clock is real time while the nodes run at 3600x: 30 min spans many uplinks.
  await page.fill("#command-payload", '{"times": 2}');
  await page.fill("#command-ttl", "30m");
  await page.click("#command-send");
  await page.waitForSelector("#command-result .msg.done");
  await page.waitForSelector('#commands tr[data-name="identify"] .status:has-text("SUCCEEDED")', { timeout: 90_000 });
  assert.equal(await page.locator("#commands tr[data-name]").count(), 1);
  assert.ok(Number(await page.textContent('#commands tr[data-name="identify"] .deliveries')) >= 1, "delivered at least once");
  assert.equal(await page.locator("#error").isHidden(), true, "no error on the page");
  await shot("commands");
});

test("fleet: a thing that floods the broker raises a Device Defender alarm, shown in the page", { skip }, async () => {
  await page.goto(url);
  await page.waitForSelector(`#fleet tr[data-thing="${things[0]}"]`);
  // The demo's plain listener (loopback: client id = thing name, registered on first connection).
  const { url: broker } = JSON.parse(readFileSync(join(demoDir, "cloud.json"), "utf8")) as { url: string };
  const thing = "flood-check";
  const client = await mqtt.connectAsync(broker, { clientId: thing, reconnectPeriod: 0 });
  try {
    // The built-in profile allows 100 messages per 5 minutes.
    for (let i = 0; i < 150; i++) await client.publishAsync(`dt/${thing}/telemetry`, "{}", { qos: 1 });
  } finally {
    await client.endAsync();
  }
  await page.waitForSelector(`#alarms tr[data-thing="${thing}"][data-behavior="message-flood"]`);
  assert.ok(Number(await page.textContent(`#alarms tr[data-thing="${thing}"] .value`)) > 100);
  await page.waitForSelector(`#fleet tr[data-thing="${thing}"] .pill.alarm`);
  await shot("alarms");
});

test("jobs: bad input shows the API's error; a job created in the page can be canceled", { skip }, async () => {
  await page.goto(`${url}#/jobs`);
  await page.fill("#job-id", "console-check");
  await page.fill("#job-targets", "no-such-thing");
  await page.fill("#job-doc", '{"operation":"console-check"}');
  await page.click("#job-form button[type=submit]");
  await page.waitForSelector("#job-result .msg.error");
  assert.match((await page.textContent("#job-result"))!, /ResourceNotFound: thing no-such-thing is not registered/);
  await page.fill("#job-doc", "{nope");
  await page.click("#job-form button[type=submit]");
  await page.waitForSelector("#job-result .msg.error:has-text('not valid JSON')");
  // A thing no device answers for, so nothing takes the job before it is canceled.
  assert.equal((await page.request.post(`${url}things`, { data: { thingName: "shelf-spare" } })).status(), 201);
  await page.fill("#job-doc", '{"operation":"console-check"}');
  await page.fill("#job-targets", "shelf-spare");
  await page.click("#job-form button[type=submit]");
  await page.waitForSelector("#job-result .msg.done");
  await page.click('div.job[data-job="console-check"] button[data-force="1"]');
  await page.waitForSelector('div.job[data-job="console-check"] .row :text-is("CANCELED")');
  assert.equal(await page.locator("#error").isHidden(), true, "no error on the page");
});

test("jobs & OTA: a signed image published from the page reaches 100% and the version column changes", { skip }, async () => {
  await page.goto(`${url}#/jobs`);
  await page.waitForSelector(`#ota-things input[value="${things[0]}"]`);
  for (const t of things.slice(0, 2)) await page.check(`#ota-things input[value="${t}"]`);
  await page.fill("#ota-version", "1.1.0");
  await page.click("#ota-publish");
  await page.waitForSelector("#ota-result .msg.done", { timeout: 120_000 });
  const job = await page.getAttribute('#jobs div.job[data-job^="ota-"]', "data-job");
  assert.match(job!, /^ota-1_1_0-/);
  // Progress moves: a partial bar is seen on the way for at least one device (window by window).
  await page.waitForSelector(`div.job[data-job="${job}"] tr[data-thing] .status:has-text("IN_PROGRESS")`, { timeout: 90_000 });
  await shot("jobs");
  for (const t of things.slice(0, 2)) await page.waitForSelector(`div.job[data-job="${job}"] tr[data-thing="${t}"] .status:has-text("SUCCEEDED")`, { timeout: 150_000 });
  for (const t of things.slice(0, 2)) assert.equal(await page.textContent(`div.job[data-job="${job}"] tr[data-thing="${t}"] .pct`), "100%");
  await shot("jobs-done");
  await page.goto(url);
  for (const t of things.slice(0, 2)) await page.waitForSelector(`#fleet tr[data-thing="${t}"] td.version:text-is("1.1.0")`, { timeout: 90_000 });
  assert.equal(await page.textContent(`#fleet tr[data-thing="${things[2]}"] td.version`), "1.0.0", "not chosen, not updated");
});

test("energy: per-state charge and projected life are plotted", { skip }, async () => {
  await page.goto(`${url}#/energy`);
  await page.waitForSelector("#e-plot-0 canvas");
  await page.waitForSelector("#life-plot canvas");
  assert.match((await page.textContent("#e-table-0"))!, /deep-sleep|sleep/);
  await shot("energy");
});

test("a cloud on a non-loopback address refuses the page and the API until the login form gets its token", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-console-auth-"));
  dirs.push(dir);
  const cloud = await startCloud({ dir, host: "0.0.0.0", port: 0, tlsPort: 0, httpPort: 0, log: silentLogger });
  try {
    const base = `http://127.0.0.1:${cloud.ports.http}`;
    const api = await page.request.get(`${base}/things`);
    assert.equal(api.status(), 401, "unauthenticated API request refused");
    await page.goto(`${base}/`);
    assert.match(page.url(), /\/login$/, "the page sends you to the login form");
    await page.fill("#token", "not-the-token");
    await page.click("button[type=submit]");
    await page.waitForSelector(".err");
    await page.fill("#token", cloud.token!);
    await page.click("button[type=submit]");
    await page.waitForSelector("#fleet");
    assert.equal((await page.request.get(`${base}/things`)).status(), 200, "the cookie now authorises the API");
  } finally {
    await cloud.close();
  }
});
