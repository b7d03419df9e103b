// Runs inside XS at every boot of the virtual ESP32, before the app: the
// core of the device side of the simulator. It holds the bridge to the host
// (synchronous issueCommand calls out, handleCommand deliveries in), the
// virtual clock, the freezing of built-ins, and the module loader. The
// emulated Moddable modules are installed where MODULES stands below, one per
// file of tools/sim/moddable/ (each file holds its XS side and its host side).
// The app runs in a Compartment that sees only the modules and globals the
// Moddable manifests it includes provide (moddable/table.json), never the
// host bridge itself.
(function boot() {
  "use strict";
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const RealDate = Date;
  let now = 0; // virtual wall clock, ms since epoch, refreshed by every host reply

  // Envelope: u32 JSON length, JSON, raw payload bytes. Joined with XS's
  // ArrayBuffer.prototype.concat: TypedArray.set is metered per byte, and the
  // bridge's own copying is no work the chip would do.
  function pack(message, payload) {
    const json = encoder.encode(JSON.stringify(message));
    const head = new Uint8Array(4 + json.length);
    new DataView(head.buffer).setUint32(0, json.length);
    head.set(json, 4);
    if (payload === undefined) return head.buffer;
    let bytes;
    if (payload instanceof ArrayBuffer) bytes = payload;
    else if (ArrayBuffer.isView(payload))
      bytes = payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength ? payload.buffer : payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength);
    else throw new TypeError("expected ArrayBuffer or view");
    return head.buffer.concat(bytes);
  }
  function unpack(buffer) {
    const length = new DataView(buffer).getUint32(0);
    const message = JSON.parse(decoder.decode(new Uint8Array(buffer, 4, length)));
    if (buffer.byteLength > 4 + length) message.payload = buffer.slice(4 + length);
    return message;
  }
  // The bridge's own cost: compute units spent per host call (packing, the
  // synchronous issueCommand, unpacking), which the chip's native calls would
  // not spend. Measured in the same run, reported with each delivery, so
  // figures can be read with and without it (VirtualDevice.meters).
  const metered = typeof resetMeter === "function" && typeof currentMeterLimit === "function";
  function meterNow() {
    const limit = currentMeterLimit();
    const count = resetMeter(limit, 0);
    resetMeter(limit, count);
    return count;
  }
  let bridge = { calls: 0, units: 0, ops: {} };
  function host(message, payload) {
    const before = metered ? meterNow() : 0;
    let reply;
    try {
      reply = unpack(issueCommand(pack(message, payload)));
    } finally {
      const units = metered ? meterNow() - before : 0;
      bridge.calls++;
      bridge.units += units;
      const op = (bridge.ops[message.op] ??= [0, 0]);
      op[0]++;
      op[1] += units;
    }
    if (reply.t !== undefined) now = reply.t;
    if (reply.error !== undefined) {
      const E = reply.errorType === "TypeError" ? TypeError : reply.errorType === "RangeError" ? RangeError : reply.errorType === "SyntaxError" ? SyntaxError : Error;
      throw new E(reply.error);
    }
    return reply;
  }


  const RealDateNow = () => now;
  function VirtualDate(...args) {
    if (!new.target) return new RealDate(now).toString();
    return args.length ? new RealDate(...args) : new RealDate(now);
  }
  VirtualDate.now = RealDateNow;
  VirtualDate.UTC = RealDate.UTC;
  VirtualDate.parse = RealDate.parse;
  VirtualDate.prototype = RealDate.prototype;

  // trace (xs/sources/xsGlobal.c): the chip's console; here a host trace event.
  function trace(...values) {
    host({ op: "trace", text: values.map((v) => (typeof v === "string" ? v : String(v))).join("") });
  }

  // What each module file installs: emulations by the name table.json gives
  // them ("sim"), globals, and handlers for host deliveries by type.
  let nextId = 1;
  const sim = {
    host,
    encoder,
    decoder,
    trace,
    newId: () => nextId++,
    /** The compute meter now (for a delivery that will not report its meters), or null. */
    compute: () => (metered ? meterNow() : null),
    /** name -> (specifier) => module namespace */
    emulations: {
      config: () => ({ default: host({ op: "config" }).config }),
    },
    /** name -> () => global value */
    globals: { trace: () => trace },
    /** delivery type -> (message) => void */
    handlers: {},
    /** Bytes of an ArrayBuffer or view, as an ArrayBuffer the bridge can send. */
    bytes(buffer) {
      if (buffer instanceof ArrayBuffer) return buffer;
      if (ArrayBuffer.isView(buffer)) return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
      throw new TypeError("expected ArrayBuffer or view");
    },
  };

  /*MODULES*/

  // XS built-ins every Moddable build has (not mxCESU8) that xsnap's XS, built with
  // mxCESU8, lacks: ArrayBuffer.fromString (xs/sources/xsDataView.c) constructs its
  // result through its receiver, so an unbound call throws "new: not a constructor";
  // String.fromArrayBuffer(buffer[, byteOffset[, byteLength]]) (xs/sources/xsString.c)
  // throws TypeError "invalid UTF-8". Native on the chip: the engine's own codec here.
  {
    const utf8 = new TextDecoder("utf-8", { fatal: true });
    const Encoder = TextEncoder;
    const fromString = {
      fromString(string) {
        if (arguments.length < 1) throw new TypeError("no argument");
        if (typeof this !== "function") throw new TypeError("new: not a constructor (in fromString)");
        const bytes = new Encoder().encode(String(string));
        return this === ArrayBuffer ? bytes.buffer : new this(bytes.byteLength);
      },
    }.fromString;
    const fromArrayBuffer = {
      fromArrayBuffer(buffer, byteOffset, byteLength) {
        if (arguments.length < 1) throw new TypeError("no argument");
        if (!(buffer instanceof ArrayBuffer) && !(typeof SharedArrayBuffer === "function" && buffer instanceof SharedArrayBuffer))
          throw new TypeError("argument: not an ArrayBuffer instance");
        const limit = buffer.byteLength;
        const offset = byteOffset === undefined ? 0 : Number(byteOffset);
        if (!(offset >= 0 && offset <= limit)) throw new RangeError("invalid byteOffset " + offset);
        const length = byteLength === undefined ? limit - offset : Number(byteLength);
        if (!(length >= 0 && offset + length <= limit)) throw new RangeError("invalid byteLength " + length);
        try {
          return utf8.decode(new Uint8Array(buffer, offset, length));
        } catch {
          throw new TypeError("invalid UTF-8");
        }
      },
    }.fromArrayBuffer;
    if (typeof ArrayBuffer.fromString !== "function")
      Object.defineProperty(ArrayBuffer, "fromString", { value: fromString, writable: true, configurable: true });
    if (typeof String.fromArrayBuffer !== "function")
      Object.defineProperty(String, "fromArrayBuffer", { value: fromArrayBuffer, writable: true, configurable: true });
  }

  // Uint8Array.fromBase64 (xs/sources/xsDataView.c:355; mxUint8ArrayBase64 is 1 by default,
  // xs/sources/xsCommon.h:99), which xsnap's older XS lacks. Native on the chip: decoded on
  // the host (tools/sim/moddable/base64.ts); the options are checked here as XS checks them.
  if (typeof Uint8Array.fromBase64 !== "function") {
    const fromBase64 = {
      fromBase64(string, options) {
        if (typeof string !== "string") throw new TypeError("string: not a string");
        let alphabet = "base64", last = "loose";
        if (options !== undefined) {
          if ((typeof options !== "object" && typeof options !== "function") || options === null) throw new TypeError("options: not an object");
          const a = options.alphabet;
          if (a !== undefined) {
            if (typeof a !== "string") throw new TypeError("options.alphabet: not a string");
            if (a !== "base64" && a !== "base64url") throw new TypeError("options.alphabet: neither 'base64' nor 'base64url'");
            alphabet = a;
          }
          const l = options.lastChunkHandling;
          if (l !== undefined) {
            if (typeof l !== "string") throw new TypeError("options.lastChunkHandling: not a string");
            if (l !== "loose" && l !== "strict" && l !== "stop-before-partial") throw new TypeError("options.lastChunkHandling: neither 'loose' nor 'strict' nor 'stop-before-partial'");
            last = l;
          }
        }
        const reply = host({ op: "xs.fromBase64", text: string, alphabet, last });
        return new Uint8Array(reply.payload ?? new ArrayBuffer(0));
      },
    }.fromBase64;
    Object.defineProperty(Uint8Array, "fromBase64", { value: fromBase64, writable: true, configurable: true });
  }

  // A Moddable build freezes the built-ins after preload (xs/tools/xsl.c, fxFreezeBuiltIns;
  // documentation/xs/preload.md "Automatic Freezing of Built-ins"): built-in prototypes and
  // every built-in function. harden() on each intrinsic does that here, so the override
  // mistake (this.name = "X" in an Error subclass) throws TypeError as on the chip.
  const intrinsics = new Compartment({ globals: {} }).globalThis;
  for (const name of Object.getOwnPropertyNames(intrinsics)) {
    if (name === "globalThis" || name === "global") continue;
    const value = intrinsics[name];
    if ((typeof value === "object" && value !== null) || typeof value === "function") harden(value);
  }
  harden(VirtualDate);
  harden(trace);
  const namespaces = new Map();
  function emulated(specifier, row) {
    if (namespaces.has(specifier)) return namespaces.get(specifier);
    const make = row.sim === null ? undefined : sim.emulations[row.sim];
    if (!make)
      throw new Error(`module "${specifier}" (Moddable ${row.source}, from ${row.manifest}) is not emulated by the virtual ESP32`);
    const ns = make(specifier);
    // Preloaded modules live in flash: their functions are frozen (preload.md).
    for (const v of Object.values(ns)) if (typeof v === "function" || (typeof v === "object" && v !== null)) harden(v);
    namespaces.set(specifier, ns);
    return ns;
  }
  /** Functions of a preloaded app module are frozen, as xsl freezes them (its exports and their methods). */
  function freezeFunctions(value, seen) {
    if ((typeof value !== "function" && typeof value !== "object") || value === null || seen.has(value)) return;
    seen.add(value);
    if (typeof value === "function") {
      Object.freeze(value);
      const proto = value.prototype;
      if (proto && typeof proto === "object")
        for (const key of Reflect.ownKeys(proto)) {
          const d = Object.getOwnPropertyDescriptor(proto, key);
          for (const f of [d.value, d.get, d.set]) if (typeof f === "function" && f !== value) Object.freeze(f);
        }
    }
  }

  // ---- module loading -----------------------------------------------------------------
  function resolve(specifier, referrer) {
    if (!specifier.startsWith("./") && !specifier.startsWith("../")) return specifier;
    const parts = referrer.split("/");
    parts.pop();
    for (const p of specifier.split("/")) {
      if (p === "..") {
        if (!parts.length) throw new Error(`import "${specifier}" from "${referrer}" leaves the module tree`);
        parts.pop();
      } else if (p !== ".") parts.push(p);
    }
    return parts.join("/");
  }
  const importer = new Map();
  /** App modules compiled ahead of the boot (the image's bytecode, as xsc leaves it in flash). */
  const compiled = new Map();
  let compartment;
  function makeCompartment(device) {
    const globals = { Date: VirtualDate };
    for (const [name, row] of Object.entries(device.globals)) {
      const make = row.sim === null ? undefined : sim.globals[row.sim];
      if (make) globals[name] = harden(make()); // preloaded: frozen
    }
    const c = new Compartment({
      globals,
      resolveHook(specifier, referrer) {
        const full = resolve(specifier, referrer);
        if (!importer.has(full)) importer.set(full, referrer);
        return full;
      },
      loadNowHook(specifier) {
        const row = device.modules[specifier];
        if (row) return { namespace: emulated(specifier, row) };
        const source = compiled.get(specifier);
        if (source) return { source };
        const r = host({ op: "module", specifier, importer: importer.get(specifier) ?? null });
        return { source: new ModuleSource(decoder.decode(r.payload ?? new ArrayBuffer(0)), specifier) };
      },
    });
    // Globals Moddable provides but the sim does not emulate: reading one says so.
    for (const [name, row] of Object.entries(device.globals))
      if (!(name in globals) && !(name in c.globalThis))
        Object.defineProperty(c.globalThis, name, {
          get() {
            throw new Error(`global ${name} (Moddable ${row.source}) is not emulated by the virtual ESP32`);
          },
        });
    return c;
  }

  function deliver(message) {
    switch (message.type) {
      case "prepare":
      case "boot": {
        if (!compartment) {
          compartment = makeCompartment(message.device);
          // The build: every app module compiled (xsc), then the preloaded ones run and
          // frozen (xsl), before the image exists. The host refuses other calls meanwhile:
          // a native function cannot run during preload (documentation/xs/preload.md).
          for (const specifier of message.compile ?? []) {
            const r = host({ op: "module", specifier, importer: null });
            compiled.set(specifier, new ModuleSource(decoder.decode(r.payload ?? new ArrayBuffer(0)), specifier));
          }
          const seen = new Set();
          for (const specifier of message.preload ?? []) {
            const ns = compartment.importNow(specifier);
            for (const v of Object.values(ns)) freezeFunctions(v, seen);
          }
        }
        if (message.type === "prepare") return;
        const main = compartment.importNow(message.main);
        if (typeof main.default === "function") main.default();
        return;
      }
      case "eval":
        // Test hook: evaluates a snippet in the app's compartment.
        return compartment.evaluate(message.code);
      default: {
        const handler = sim.handlers[message.type];
        if (!handler) throw new Error(`unknown delivery ${message.type}`);
        return handler(message);
      }
    }
  }

  globalThis.handleCommand = function handleCommand(buffer) {
    const message = unpack(buffer);
    now = message.t;
    try {
      const result = deliver(message);
      const spent = bridge;
      bridge = { calls: 0, units: 0, ops: {} };
      return pack({ ok: true, result: result === undefined ? null : result, bridge: spent });
    } catch (e) {
      // An uncaught exception is a panic, as on the chip: tell the host why, then abort.
      const stack = e && typeof e === "object" && "stack" in e ? String(e.stack) : "";
      host({ op: "panic", message: String(e), stack });
      throw e;
    }
  };
})();
