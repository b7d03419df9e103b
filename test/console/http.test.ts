// The cloud's HTTP API and console, safe by default: open to this machine only on
// loopback (Host checked against DNS rebinding, no cross-site writes), a token
// (bearer header or the login form's cookie) on any other address; the console's
// routes answer bad input with the API's {code, message}.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, silentLogger, type Cloud } from "../../tools/cloud/index.ts";
import { isLoopbackHost, tokenMatches } from "../../tools/cloud/http.ts";

const root = new URL("../..", import.meta.url).pathname;
const dirs: string[] = [];
const clouds: Cloud[] = [];
after(async () => {
  for (const c of clouds) await c.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function cloudOn(host: string, token?: string): Promise<Cloud> {
  const dir = mkdtempSync(join(tmpdir(), "xsiot-console-http-"));
  dirs.push(dir);
  const c = await startCloud({ dir, host, port: 0, tlsPort: 0, httpPort: 0, log: silentLogger, token });
  clouds.push(c);
  return c;
}

/** A raw request (fetch would not let us set Host). */
function raw(port: number, o: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method: o.method ?? "GET", path: o.path, headers: o.headers }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

test("loopback: open to this machine, but not to another Host name or a cross-site write", async () => {
  const c = await cloudOn("127.0.0.1");
  assert.equal(c.token, undefined, "no token on loopback");
  const port = c.ports.http;
  assert.equal((await raw(port, { path: "/things" })).status, 200);
  const rebound = await raw(port, { path: "/things", headers: { host: `attacker.example:${port}` } });
  assert.equal(rebound.status, 403, "DNS rebinding: a foreign Host is refused");
  assert.match(JSON.parse(rebound.body).message, /loopback/);
  const csrf = await raw(port, { method: "POST", path: "/things", headers: { origin: "http://attacker.example", "content-type": "application/json" }, body: '{"thingName":"x"}' });
  assert.equal(csrf.status, 403, "cross-origin write refused");
  const form = await raw(port, { method: "POST", path: "/things", headers: { origin: `http://127.0.0.1:${port}`, "content-type": "text/plain" }, body: '{"thingName":"x"}' });
  assert.equal(form.status, 415, "a browser write must be JSON");
  assert.equal((await raw(port, { path: "/things/%E0%A4%A" })).status, 400, "bad percent-encoding is the client's error");
  const ok = await raw(port, { method: "POST", path: "/things", headers: { origin: `http://127.0.0.1:${port}`, "content-type": "application/json" }, body: '{"thingName":"t-1"}' });
  assert.equal(ok.status, 201, ok.body);
});

test("non-loopback: every route needs the token, as a bearer header or through the login form", async () => {
  const c = await cloudOn("0.0.0.0");
  assert.ok(c.token && c.token.length >= 40, "a fresh token is made");
  const port = c.ports.http;
  for (const path of ["/things", "/jobs", "/console/fleet", "/console/events", "/console.js", "/health"]) {
    const r = await raw(port, { path });
    assert.equal(r.status, 401, `${path} without a token`);
    assert.equal(JSON.parse(r.body).code, "Unauthorized");
  }
  assert.equal((await raw(port, { method: "POST", path: "/things", headers: { "content-type": "application/json" }, body: '{"thingName":"x"}' })).status, 401);
  assert.equal((await raw(port, { path: "/things", headers: { authorization: "Bearer wrong" } })).status, 401);
  const page = await raw(port, { path: "/" });
  assert.equal(page.status, 303);
  assert.equal(page.headers.location, "/login");
  assert.equal((await raw(port, { path: "/things", headers: { authorization: `Bearer ${c.token}` } })).status, 200);
  const bad = await raw(port, { method: "POST", path: "/login", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "token=nope" });
  assert.equal(bad.status, 401);
  assert.match(bad.body, /not the token/);
  const good = await raw(port, { method: "POST", path: "/login", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `token=${encodeURIComponent(c.token!)}` });
  assert.equal(good.status, 303);
  const cookie = String(good.headers["set-cookie"]).split(";")[0];
  assert.match(String(good.headers["set-cookie"]), /HttpOnly/);
  assert.equal((await raw(port, { path: "/console/fleet", headers: { cookie } })).status, 200);
  const html = await raw(port, { path: "/", headers: { cookie } });
  assert.equal(html.status, 200);
  assert.match(html.body, /console\.js/);
  // The CLI on this machine finds the token in the state file (0600).
  const state = join(c.pkiDir, "..", "cloud.json");
  assert.equal(statSync(state).mode & 0o077, 0, "cloud.json is private");
  assert.equal(JSON.parse(readFileSync(state, "utf8")).token, c.token);
  // (async: the cloud runs in this process)
  await promisify(execFile)(process.execPath, [join(root, "bin/xsiot.js"), "things", "list", "--dir", join(c.pkiDir, "..")], { encoding: "utf8", timeout: 60_000 });
});

test("token helpers", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) assert.ok(isLoopbackHost(h), h);
  for (const h of ["0.0.0.0", "192.168.1.4", "::", "example.com"]) assert.ok(!isLoopbackHost(h), h);
  assert.ok(tokenMatches("abc", "abc"));
  assert.ok(!tokenMatches("abd", "abc"));
  assert.ok(!tokenMatches("", "abc"));
  assert.ok(!tokenMatches(undefined, "abc"));
});

test("console routes: the page, the bundle, and clear errors for bad input", async () => {
  const c = await cloudOn("127.0.0.1");
  const base = c.httpUrl;
  const page = await fetch(base + "/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type")!, /text\/html/);
  const js = await fetch(base + "/console.js");
  assert.equal(js.status, 200);
  const size = (await js.arrayBuffer()).byteLength;
  assert.ok(size > 10_000 && size < 250_000, `bundle ${size} bytes`);
  assert.doesNotMatch(await (await fetch(base + "/")).text(), /https?:\/\/(?!www\.w3\.org)/, "no external resources");
  const post = (p: string, body: unknown) => fetch(base + p, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  c.registry.create("t-2");
  const conflict = await post("/things/t-2/shadow", { state: { desired: { a: 1 } }, version: 5 });
  assert.equal(conflict.status, 409);
  assert.deepEqual(await conflict.json(), { code: 409, message: "Version conflict" });
  type Err = { code: string | number; message: string };
  const deep = await post("/things/t-2/shadow", { state: { desired: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } } } });
  assert.equal(deep.status, 400);
  assert.match(((await deep.json()) as Err).message, /nesting/);
  const ota = await post("/console/ota", { things: ["t-2"], version: "one.two" });
  assert.ok(ota.status === 400 || ota.status === 501, String(ota.status));
  assert.ok(((await ota.json()) as Err).message);
  const unknown = await post("/console/ota", { things: [], version: "1.2.0" });
  assert.ok(unknown.status >= 400 && unknown.status < 502);
  const fleet = (await (await fetch(base + "/console/fleet")).json()) as { things: { thingName: string }[] };
  assert.ok(fleet.things.some((t: { thingName: string }) => t.thingName === "t-2"));
  assert.equal((await fetch(base + "/console/things/nope")).status, 404);
});
