// The repo's declarations of Moddable modules (sdk/typings/moddable.d.ts,
// embedded_io.d.ts, embedded_storage.d.ts) must keep the shapes of the Moddable
// typing files they cite, so code that type-checks here type-checks under
// mcconfig. With MODDABLE set: each cited file exists, declares the same
// modules, and each module has the same member names. Without it: skipped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
const MODDABLE = process.env.MODDABLE;
const FILES = ["moddable.d.ts", "embedded_io.d.ts", "embedded_storage.d.ts"];

/** `declare module "x" { ... }` bodies by module name (top-level braces matched). */
function modules(src: string): Map<string, string> {
  const out = new Map<string, string>();
  const code = src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  for (const m of code.matchAll(/declare module ["']([^"']+)["']\s*\{/g)) {
    let depth = 1;
    let i = m.index! + m[0].length;
    const start = i;
    for (; i < code.length && depth > 0; i++) {
      if (code[i] === "{") depth++;
      else if (code[i] === "}") depth--;
    }
    out.set(m[1], code.slice(start, i - 1));
  }
  return out;
}

/** Names declared in a module body: classes, types, interfaces, consts, members. */
function names(body: string): string[] {
  const set = new Set<string>();
  // Parameter lists say nothing about the names a module offers: drop them.
  for (let prev = ""; prev !== body; ) [prev, body] = [body, body.replace(/\([^()]*\)/g, "@")];
  for (const m of body.matchAll(/\b(?:class|interface|type|const|var|let|function)\s+([A-Za-z_$][\w$]*)/g)) set.add(m[1]);
  for (const m of body.matchAll(/(?:^|[;{\s])(?:static\s+)?(?:readonly\s+)?(?:get\s+|set\s+)?([A-Za-z_$][\w$]*)\??\s*[@:]/gm)) set.add(m[1]);
  for (const kw of ["constructor", "import", "export", "default", "from", "new", "this", "typeof", "keyof", "private", "declare"]) set.delete(kw);
  return [...set].sort();
}

/** [cited Moddable file, module names of the block] for each cited block of our files. */
function cited(): { ours: string; cite: string; modules: string[]; src: string }[] {
  const out: { ours: string; cite: string; modules: string[]; src: string }[] = [];
  for (const f of FILES) {
    const src = readFileSync(join(root, "sdk/typings", f), "utf8");
    const blocks = src.split(/^(?=\/\/ \$MODDABLE\/)/m).slice(1);
    for (const b of blocks) {
      const cite = /^\/\/ \$MODDABLE\/(\S+\.d\.ts)/.exec(b)?.[1];
      if (!cite) continue;
      out.push({ ours: f, cite, modules: [...modules(b).keys()], src: b });
    }
  }
  return out;
}

test("every declared Moddable module cites the typing file it follows", () => {
  for (const f of FILES) {
    const src = readFileSync(join(root, "sdk/typings", f), "utf8");
    const all = [...modules(src).keys()];
    const withCite = cited().filter((c) => c.ours === f).flatMap((c) => c.modules);
    assert.deepEqual(all.filter((m) => !withCite.includes(m)), [], `${f}: modules without a $MODDABLE/... citation`);
  }
});

test("the declarations match Moddable's typings", { skip: MODDABLE ? false : "MODDABLE is not set (a Moddable SDK checkout)" }, () => {
  for (const c of cited()) {
    const path = join(MODDABLE!, c.cite);
    assert.ok(existsSync(path), `${c.ours}: cites ${c.cite}, which ${MODDABLE} lacks`);
    const theirs = modules(readFileSync(path, "utf8"));
    const ours = modules(c.src);
    for (const name of c.modules) {
      assert.ok(theirs.has(name), `${c.cite} declares no module "${name}"`);
      assert.deepEqual(names(ours.get(name)!), names(theirs.get(name)!), `${c.ours}: members of "${name}" differ from ${c.cite}`);
    }
  }
});
