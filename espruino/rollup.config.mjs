// Bundles the SDK's sans-I/O cores and the Espruino port layer into one
// CommonJS module for Espruino's require() (Modules.addCached / a Storage file),
// plus the reference app that require()s it.
//
// Espruino 2v29 runs ES5 plus a few extras; it lacks async/await, generators,
// destructuring, spread, default parameters, ?., Map/Set, and it does NOT hoist
// function declarations (a call before the declaration's line fails, even inside
// a function). So: Babel turns TypeScript and ES2022 into ES5 (loose: no Symbol or
// Reflect), async functions into plain promise chains (no regenerator), and
// terser minifies to ES5 with every function declaration moved to the top of its
// scope. test/espruino/subset.test.ts checks the result.
import { babel } from "@rollup/plugin-babel";
import inject from "@rollup/plugin-inject";
import terser from "@rollup/plugin-terser";
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const port = (f) => join(here, "port", f);

// What the SDK imports from Moddable / ECMA-419, and what the port gives it instead.
const HOST_MODULES = {
  "embedded:io/system": port("system.ts"),
  timer: port("timer.ts"),
  "embedded:io/socket/tcp": port("tcp.ts"),
  "embedded:io/socket/tcp/tls": port("tls.ts"),
  "embedded:storage/key-value": port("kv.ts"),
  "xsiot/native/esp32": port("esp32.ts"),
};

function resolveTs(base) {
  for (const p of [base, base + ".ts", join(base, "index.ts")]) if (existsSync(p) && statSync(p).isFile()) return p;
  return null;
}

/** Resolves the SDK's extensionless TypeScript imports, xsiot/* and the host modules; refuses anything else. */
function sdkResolve() {
  return {
    name: "xsiot-resolve",
    resolveId(source, importer) {
      if (source.charCodeAt(0) === 0) return null; // another plugin's virtual module (Babel's helpers)
      if (HOST_MODULES[source]) return HOST_MODULES[source];
      if (source === "xsiot") return { id: "xsiot", external: true };
      // One shared copy of the async-to-promises helpers instead of one per module.
      if (source === "babel-plugin-transform-async-to-promises/helpers") return join(root, "node_modules", source + ".mjs");
      if (source.startsWith("xsiot/")) return resolveTs(join(root, "sdk", source.slice(6)));
      if (!importer || source.startsWith("/")) return resolveTs(resolve(source));
      if (source.startsWith(".")) {
        const file = resolveTs(resolve(dirname(importer), source));
        // MQTT 3.1.1 only on Espruino: the 3.1.1 client never loads the MQTT 5 code (properties, reasons, aliases).
        return file === join(root, "sdk/mqtt/client.ts") ? join(root, "sdk/mqtt/client311.ts") : file;
      }
      this.error(`${source} (from ${importer}) is neither SDK nor port code: Espruino has no such module`);
    },
  };
}

/**
 * Espruino's Function.apply takes at most 256 arguments; sdk/text/utf8 turns
 * bytes into text with String.fromCharCode.apply in runs of RUN (512 for XS).
 * The Espruino build uses runs of 256. Fails loudly if the SDK's line changes.
 */
function applyLimit() {
  return {
    name: "xsiot-apply-limit",
    transform(code, id) {
      if (!id.endsWith(join("sdk", "text", "utf8.ts"))) return null;
      const re = /const RUN = \d+;/;
      if (!re.test(code)) this.error("sdk/text/utf8.ts no longer has `const RUN = <n>;`: re-check Espruino's 256-argument apply limit");
      return { code: code.replace(re, "const RUN = 256;"), map: null };
    },
  };
}

/** `class X extends Error` would need Babel's native-super wrapper (Reflect.construct); Espruino has none. Extend the port's ES5 error base instead. */
function errorBase({ types: t }) {
  return {
    visitor: {
      Class(path) {
        const sup = path.node.superClass;
        if (!sup || !t.isIdentifier(sup, { name: "Error" }) || path.scope.hasBinding("Error", true)) return;
        const base = port("error.ts");
        if (path.hub.file.opts.filename === base) return;
        const program = path.findParent((p) => p.isProgram());
        if (!program.scope.hasBinding("EspError")) {
          program.unshiftContainer("body", t.importDeclaration([t.importSpecifier(t.identifier("EspError"), t.identifier("EspError"))], t.stringLiteral(base)));
          program.scope.crawl();
        }
        path.node.superClass = t.identifier("EspError");
      },
    },
  };
}

/**
 * Globals the SDK names that Espruino lacks (or has with another meaning:
 * Espruino's trace() dumps its variable tree), imported from the port into each
 * module that uses them: the bundle defines no globals. sdk/text/utf8 is left
 * alone: it probes TextEncoder/TextDecoder and uses its own code without them.
 */
function globalsFromPort() {
  const poly = port("polyfills.ts"), sys = port("system.ts");
  return inject({
    include: /\.ts$/,
    exclude: [/sdk[\\/]text[\\/]utf8\.ts$/, /port[\\/]polyfills\.ts$/, /port[\\/]error\.ts$/],
    Map: [poly, "EspMap"],
    Set: [poly, "EspSet"],
    TextEncoder: [poly, "EspTextEncoder"],
    TextDecoder: [poly, "EspTextDecoder"],
    Timer: [sys, "Timer"],
    trace: [sys, "trace"],
    RangeError: [port("error.ts"), "EspRangeError"],
  });
}

/** Espruino refuses `array.length = n` ("Assignment to a constant"): truncate with splice instead. */
function arrayLength({ types: t }) {
  const pure = (n) => t.isIdentifier(n) || t.isThisExpression(n) || (t.isMemberExpression(n) && !n.computed && pure(n.object));
  return {
    visitor: {
      AssignmentExpression(path) {
        const l = path.node.left;
        if (path.node.operator !== "=" || !t.isMemberExpression(l) || l.computed || !t.isIdentifier(l.property, { name: "length" })) return;
        if (!pure(l.object)) throw path.buildCodeFrameError("length assignment on an expression with side effects: Espruino cannot set length");
        const v = path.scope.generateUidIdentifier("n");
        path.scope.push({ id: v });
        const obj = () => t.cloneNode(l.object);
        path.replaceWith(t.sequenceExpression([
          t.assignmentExpression("=", v, path.node.right),
          t.callExpression(t.memberExpression(obj(), t.identifier("splice")), [v, t.memberExpression(obj(), t.identifier("length"))]),
          v,
        ]));
      },
    },
  };
}

/**
 * Espruino's RegExp has no {m,n} quantifier (/^a{1,3}$/.test("aa") is false).
 * The SDK's bounded patterns are all ^[class]{m,n}$ (names, ids), used with
 * .test(): each becomes an object whose test() checks the length and ^[class]+$.
 * Any other {m,n} pattern stops the build.
 */
function boundedRegExp({ types: t }) {
  const FORM = /^\^(\[(?:[^\]\\]|\\.)+\])\{(\d+),(\d+)\}\$$/;
  return {
    visitor: {
      RegExpLiteral(path) {
        const { pattern, flags } = path.node;
        if (!/\{\d/.test(pattern)) return;
        const m = FORM.exec(pattern);
        if (!m) throw path.buildCodeFrameError(`/${pattern}/: Espruino's RegExp has no {m,n}; only ^[class]{m,n}$ is rewritten`);
        const s = t.identifier("s");
        const len = t.memberExpression(s, t.identifier("length"));
        const body = t.logicalExpression("&&", t.logicalExpression("&&",
          t.binaryExpression(">=", len, t.numericLiteral(+m[2])), t.binaryExpression("<=", t.cloneNode(len), t.numericLiteral(+m[3]))),
          t.callExpression(t.memberExpression(t.regExpLiteral("^" + m[1] + "+$", flags), t.identifier("test")), [t.cloneNode(s)]));
        path.replaceWith(t.objectExpression([t.objectProperty(t.identifier("test"),
          t.functionExpression(null, [t.identifier("s")], t.blockStatement([t.returnStatement(body)])))]));
      },
    },
  };
}

const babelOptions = {
  babelHelpers: "bundled",
  babelrc: false,
  configFile: false,
  extensions: [".ts", ".js", ".mjs"],
  exclude: /node_modules[\\/](?!babel-plugin-transform-async-to-promises)/,
  assumptions: {
    constantSuper: true,
    ignoreFunctionLength: true,
    ignoreToPrimitiveHint: true,
    noClassCalls: true,
    noDocumentAll: true,
    noNewArrows: true,
    objectRestNoSymbols: true,
    privateFieldsAsProperties: true,
    pureGetters: true,
    setClassMethods: true,
    setComputedProperties: true,
    setPublicClassFields: true,
    setSpreadProperties: true,
    skipForOfIteratorClosing: true,
    superIsCallableConstructor: true,
  },
  // Presets run last to first: TypeScript is stripped before the ES5 downlevel.
  presets: [
    ["@babel/preset-env", {
      targets: { ie: "9" },
      loose: true,
      modules: false,
      exclude: ["transform-typeof-symbol", "transform-regenerator", "transform-async-to-generator"],
    }],
    ["@babel/preset-typescript", { onlyRemoveTypeImports: false, allowDeclareFields: true }],
  ],
  plugins: [errorBase, arrayLength, boundedRegExp, ["babel-plugin-transform-async-to-promises", { externalHelpers: true }]],
};

const terserOptions = {
  ecma: 5,
  module: false,
  // Top-level names stay whole: Espruino mixed up a local short name with a top-level one of the same name
  // (a helper called as i() read a number: "Expecting function, got Object").
  toplevel: false,
  compress: { ecma: 5, hoist_funs: true, passes: 2, arrows: false, unsafe_arrows: false, keep_fargs: true },
  mangle: { reserved: ["exports", "require", "module"] },
  // Short lines: with the whole bundle on one 100 KB line a job handler failed on Espruino with
  // "Unexpected end of Input"; beautified output ran. Lines of 200 characters cost ~1%.
  format: { ecma: 5, ascii_only: true, comments: false, max_line_len: 200 },
};

// XSIOT_ESPRUINO_DEBUG=1: readable output (same ES5, not minified) so Espruino's stack traces name lines.
if (process.env.XSIOT_ESPRUINO_DEBUG) Object.assign(terserOptions, { compress: { defaults: false, hoist_funs: true }, mangle: false, format: { ecma: 5, beautify: true, ascii_only: true } });

/** One Storage file's worth: ASCII only, so byte length equals string length on Espruino too. */
function output(file) {
  return { file, format: "cjs", exports: "named", strict: false, generatedCode: "es5", interop: "default", esModule: false, plugins: [terser(terserOptions)] };
}

const out = process.env.XSIOT_ESPRUINO_OUT || join(here, "dist");
export default [
  { input: join(here, "index.ts"), output: output(join(out, "xsiot.js")), plugins: [sdkResolve(), applyLimit(), babel(babelOptions), globalsFromPort()], treeshake: { moduleSideEffects: true } },
  { input: join(here, "app", "main.ts"), output: output(join(out, "app.js")), plugins: [sdkResolve(), applyLimit(), babel(babelOptions), globalsFromPort()], external: ["xsiot"] },
];
