// Always (no Espruino needed): the bundle and the app are in the language
// subset Espruino 2v29 runs, name no Node API and stay under their size budget.
//
// The subset, as measured on Espruino 2v29 (issue 15): ES5 syntax (acorn at
// ecmaVersion 5 parses it; no let/const, classes, arrows, templates: Espruino's
// let has no per-iteration binding, and transpiling them all is simpler than
// allowing some), no accessor properties in object literals, and — because
// Espruino does not hoist function declarations — every function declaration
// first in its scope, before any other statement. Nor can it set an array's
// length ("Assignment to a constant"), and its RegExp has no {m,n} quantifier.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as acorn from "acorn";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { build } from "./harness.ts";

const root = path.resolve(import.meta.dirname, "../..");

/** Bytes. Measured 99,463 (bundle) and 2,810 (app) on 2026-12-01; room for modest growth, not for a second copy of anything. */
export const BUNDLE_BUDGET = 110_000;
export const APP_BUDGET = 6_000;

// Globals a bundle must not touch: Node's, and what Espruino lacks (the port injects its own Map/Set/TextEncoder/TextDecoder).
const BANNED = new Set(["Buffer", "global_this", "globalThis", "__dirname", "__filename", "setImmediate", "queueMicrotask", "Reflect", "Proxy",
  "WeakMap", "WeakSet", "WeakRef", "BigInt", "Map", "Set", "TextEncoder", "TextDecoder", "structuredClone", "Intl", "fetch",
  "RangeError", "URIError", "EvalError"]);
// Modules it may require: Espruino's own, and the SDK module (the app's).
const MODULES = new Set(["net", "tls", "Storage", "Wifi", "xsiot"]);
// process.* Espruino has.
const PROCESS = new Set(["memory", "env", "version"]);

type Node = acorn.Node & Record<string, any>;

function walk(node: Node, visit: (n: Node, parent: Node | null) => void, parent: Node | null = null): void {
  visit(node, parent);
  for (const key of Object.keys(node)) {
    const v = (node as any)[key];
    if (Array.isArray(v)) for (const c of v) c && typeof c.type === "string" && walk(c, visit, node);
    else if (v && typeof v.type === "string") walk(v, visit, node);
  }
}

/** Problems of one file: [] when it is in the subset. */
export function lint(code: string): string[] {
  const problems: string[] = [];
  let ast: Node;
  try {
    ast = acorn.parse(code, { ecmaVersion: 5, sourceType: "script", locations: true }) as Node;
  } catch (e) {
    return [`not ES5: ${(e as Error).message}`];
  }
  const where = (n: Node): string => `${n.loc!.start.line}:${n.loc!.start.column}`;
  walk(ast, (n, parent) => {
    const body: Node[] | undefined = n.type === "Program" ? n.body : n.type === "BlockStatement" && parent && /Function/.test(parent.type) ? n.body : undefined;
    if (body) {
      let seenOther = false;
      for (const s of body) {
        if (s.type === "FunctionDeclaration") {
          if (seenOther) problems.push(`${where(s)}: function ${s.id.name} declared after other statements (Espruino does not hoist)`);
        } else if (!(s.type === "ExpressionStatement" && s.directive)) seenOther = true;
      }
    }
    if (n.type === "BlockStatement" && !(parent && /Function/.test(parent.type))) {
      for (const s of n.body) if (s.type === "FunctionDeclaration") problems.push(`${where(s)}: function ${s.id.name} declared in a block`);
    }
    if (n.type === "AssignmentExpression" && n.left.type === "MemberExpression" && !n.left.computed && n.left.property.name === "length") {
      problems.push(`${where(n)}: sets .length (Espruino: "Assignment to a constant")`);
    }
    if (n.type === "Literal" && n.regex && /\{\d/.test(n.regex.pattern)) problems.push(`${where(n)}: /${n.regex.pattern}/ has a {m,n} quantifier (Espruino's RegExp has none)`);
    if (n.type === "Property" && (n.kind === "get" || n.kind === "set")) problems.push(`${where(n)}: accessor in an object literal`);
    if (n.type === "Identifier" && BANNED.has(n.name)) {
      const isKey = parent && ((parent.type === "MemberExpression" && parent.property === n && !parent.computed) || (parent.type === "Property" && parent.key === n));
      const typeofGuard = parent && parent.type === "UnaryExpression" && parent.operator === "typeof";
      if (!isKey && !typeofGuard) problems.push(`${where(n)}: uses ${n.name}`);
    }
    if (n.type === "CallExpression" && n.callee.type === "Identifier" && n.callee.name === "require") {
      const a = n.arguments[0];
      if (!a || a.type !== "Literal" || !MODULES.has(a.value)) problems.push(`${where(n)}: require(${a && a.type === "Literal" ? JSON.stringify(a.value) : "<computed>"})`);
    }
    if (n.type === "MemberExpression" && n.object.type === "Identifier" && n.object.name === "process") {
      if (n.computed || !PROCESS.has(n.property.name)) problems.push(`${where(n)}: process.${n.property.name ?? "[...]"} (Node API)`);
    }
  });
  return problems;
}

test("the bundle and the app are in Espruino's subset, with no Node API", () => {
  const { bundle, app } = build();
  assert.deepEqual(lint(bundle), []);
  assert.deepEqual(lint(app), []);
  assert.match(app, /require\("xsiot"\)/, "the app loads the SDK module, it does not carry a copy");
});

test("the bundle and the app stay under their size budgets", () => {
  const { bundle, app } = build();
  assert.ok(bundle.length <= BUNDLE_BUDGET, `bundle ${bundle.length} bytes > ${BUNDLE_BUDGET}`);
  assert.ok(app.length <= APP_BUDGET, `app ${app.length} bytes > ${APP_BUDGET}`);
  assert.ok(/^[\x00-\x7f]*$/.test(bundle), "ASCII only: a Storage file's bytes are its characters");
});

test("the lint refuses what Espruino cannot run", () => {
  assert.match(lint("let a = 1;").join(), /not ES5/);
  assert.match(lint("var f = () => 1;").join(), /not ES5/);
  assert.match(lint("f(); function f() {}").join(), /does not hoist/);
  assert.match(lint("function g() { h(); function h() {} }").join(), /does not hoist/);
  assert.match(lint("var o = { get x() { return 1; } };").join(), /accessor/);
  assert.match(lint("var b = Buffer.from('x');").join(), /uses Buffer/);
  assert.match(lint("require('fs');").join(), /require\("fs"\)/);
  assert.match(lint("process.exit(1);").join(), /process.exit/);
  assert.match(lint("var m = new Map();").join(), /uses Map/);
  assert.match(lint("var q = [1]; q.length = 0;").join(), /sets .length/);
  assert.match(lint("var r = /^a{1,3}$/;").join(), /quantifier/);
  assert.deepEqual(lint("function f() {} f(); var t = typeof Symbol; require('Storage'); process.memory();"), []);
});

test("the port layer and the app type-check against the SDK and Espruino's globals (espruino/tsconfig.json)", () => {
  const r = spawnSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "espruino/tsconfig.json")], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
