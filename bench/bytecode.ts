// XS bytecode of the SDK, measured with Moddable's own compiler: the SDK's
// TypeScript emitted by tsc as mcconfig has it emitted (ES2025, modules
// preserved), then `xsc -e` on each module (as mcconfig runs it, without -d),
// and the same xsc on Moddable's two MQTT clients. A module's bytecode lives in
// flash on the chip; what it creates at run time lives in the JS heap.
// Loaded sets follow each entry module's static imports through the SDK (a
// Moddable app links exactly what its modules import).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import type { BenchResult } from "./run.ts";

const REPO = resolve(new URL("..", import.meta.url).pathname);

function files(dir: string, ext: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, ext, out);
    else if (name.endsWith(ext) && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

function xsb(xsc: string, js: string, outDir: string): number {
  const r = spawnSync(xsc, ["-e", js, "-o", outDir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`xsc ${js}: ${r.stderr || r.stdout}`);
  const name = js.slice(js.lastIndexOf("/") + 1).replace(/\.js$/, ".xsb");
  const size = statSync(join(outDir, name)).size;
  rmSync(join(outDir, name));
  return size;
}

/** Relative imports of an emitted module (tsc drops type-only ones). */
function imports(js: string): string[] {
  const text = readFileSync(js, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*"(\.[^"]+)"|(?:^|\n)\s*import\s*"(\.[^"]+)"/g)) {
    const spec = m[1] ?? m[2];
    out.push(resolve(dirname(js), spec.endsWith(".js") ? spec : spec + ".js"));
  }
  return out;
}

function loaded(entry: string): string[] {
  const seen = new Set<string>();
  const walk = (f: string) => {
    if (seen.has(f) || !existsSync(f)) return;
    seen.add(f);
    for (const i of imports(f)) walk(i);
  };
  walk(entry);
  return [...seen];
}

export function bytecode(moddable: string): BenchResult[] {
  const xsc = [join(moddable, "build/bin/lin/release/xsc"), join(moddable, "build/bin/lin/debug/xsc")].find(existsSync);
  if (!xsc) {
    console.log(`bytecode sizes skipped: no xsc under ${moddable}/build/bin/lin (build Moddable's Linux tools)`);
    return [];
  }
  const tmp = mkdtempSync(join(tmpdir(), "xsiot-xsb-"));
  try {
    const emit = join(tmp, "js");
    const cfg = join(tmp, "tsconfig.json");
    writeFileSync(cfg, JSON.stringify({
      compilerOptions: { target: "es2025", lib: ["es2025"], types: [], module: "preserve", noCheck: true, outDir: emit, rootDir: join(REPO, "sdk"), skipLibCheck: true },
      include: [join(REPO, "sdk/**/*.ts")],
      exclude: [join(REPO, "sdk/**/*.d.ts")],
    }));
    const r = spawnSync(join(REPO, "node_modules/.bin/tsc"), ["-p", cfg], { encoding: "utf8" });
    if (!existsSync(emit)) throw new Error(`tsc emitted nothing: ${r.stdout}${r.stderr}`);
    const out: BenchResult[] = [];
    const size = new Map<string, number>();
    let total = 0;
    for (const js of files(emit, ".js")) {
      const n = xsb(xsc, js, tmp);
      size.set(js, n);
      total += n;
    }
    const moddableClient = xsb(xsc, join(moddable, "examples/io/tcp/mqttclient/mqttclient.js"), tmp);
    const moddableMqtt = xsb(xsc, join(moddable, "modules/network/mqtt/mqtt.js"), tmp);
    out.push({ name: "xsb.moddable.examples/io/tcp/mqttclient", value: moddableClient, unit: "bytes" });
    out.push({ name: "xsb.moddable.modules/network/mqtt", value: moddableMqtt, unit: "bytes" });
    // What an app loads for MQTT: ratio against Moddable's ECMA-419 client (targets: 1.2x for 3.1.1, 2x for the full client).
    for (const [label, entry] of [["3.1.1 app (mqtt/client311)", "mqtt/client311.js"], ["full client (mqtt/client)", "mqtt/client.js"]] as const) {
      const set = loaded(join(emit, entry));
      const sum = set.reduce((a, f) => a + (size.get(f) ?? 0), 0);
      console.log(`${label} loads: ${set.map((f) => `${relative(emit, f).replace(/\.js$/, "")} ${size.get(f)}`).join(", ")}`);
      out.push({ name: `xsb.sdk.loaded-by.${entry.replace(/\.js$/, "")}`, value: sum, unit: "bytes", baseline: moddableClient, better: "lower" });
    }
    for (const [js, n] of size) out.push({ name: `xsb.sdk/${relative(emit, js).replace(/\.js$/, "")}`, value: n, unit: "bytes" });
    out.push({ name: "xsb.sdk.total", value: total, unit: "bytes" });
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
