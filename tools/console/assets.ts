// The console page: web/index.html, and web/app.ts with its CSS (uPlot's and ours)
// bundled and minified by esbuild (already the project's bundler) the first time
// the page is asked for, then served from memory. Nothing is fetched from the net.
import { readFileSync } from "node:fs";
import { build } from "esbuild";
import { gzipSync } from "node:zlib";

const WEB = new URL("./web/", import.meta.url).pathname;

export interface Asset {
  type: string;
  body: Buffer;
  /** The same bytes gzipped, served to browsers that accept it. */
  gzip: Buffer;
}

const asset = (type: string, body: Buffer): Asset => ({ type, body, gzip: gzipSync(body, { level: 9 }) });

let bundle: Promise<Map<string, Asset>> | undefined;

async function make(): Promise<Map<string, Asset>> {
  const out = await build({
    entryPoints: [WEB + "app.ts"],
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    outdir: "/console-out",
    write: false,
    logLevel: "silent",
    legalComments: "none",
  });
  const files = new Map<string, Asset>();
  for (const f of out.outputFiles) {
    if (f.path.endsWith(".js")) files.set("console.js", asset("text/javascript; charset=utf-8", Buffer.from(f.contents)));
    if (f.path.endsWith(".css")) files.set("console.css", asset("text/css; charset=utf-8", Buffer.from(f.contents)));
  }
  files.set("", asset("text/html; charset=utf-8", readFileSync(WEB + "index.html")));
  return files;
}

/** The asset for a request path ([] is the page), or undefined. */
export async function consoleAssets(path: string[]): Promise<Asset | undefined> {
  const key = path.join("/");
  if (key !== "" && key !== "console.js" && key !== "console.css") return undefined;
  bundle ??= make().catch((e) => {
    bundle = undefined;
    throw e;
  });
  return (await bundle).get(key);
}

/** Bytes of the bundle as served (JS, CSS, HTML), for the README's figure and a test. */
export async function bundleSizes(): Promise<Record<string, number>> {
  await consoleAssets([]);
  const m = await bundle!;
  return Object.fromEntries([...m].flatMap(([k, v]) => [[k || "index.html", v.body.length], [`${k || "index.html"} gzipped`, v.gzip.length]]));
}
