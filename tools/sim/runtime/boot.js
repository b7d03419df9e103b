// Runs inside XS at every boot of the virtual ESP32, before the app.
// It is the device side of the simulator: the ECMA-419 and Moddable module
// specifiers the app imports, implemented by synchronous calls to the host
// (issueCommand) and by host deliveries (handleCommand). The app runs in a
// Compartment that sees only these modules and ordinary globals, never the
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
      const E = reply.errorType === "TypeError" ? TypeError : reply.errorType === "RangeError" ? RangeError : Error;
      throw new E(reply.error);
    }
    return reply;
  }

  // Handlers for host deliveries, by kind and id.
  const timers = new Map();
  const sockets = new Map();
  const pins = new Map();
  let nextId = 1;

  function VirtualDate(...args) {
    if (!new.target) return new RealDate(now).toString();
    return args.length ? new RealDate(...args) : new RealDate(now);
  }
  VirtualDate.now = () => now;
  VirtualDate.UTC = RealDate.UTC;
  VirtualDate.parse = RealDate.parse;
  VirtualDate.prototype = RealDate.prototype;

  function trace(...values) {
    host({ op: "trace", text: values.map((v) => (typeof v === "string" ? v : String(v))).join("") });
  }

  // ---- timer (modules/base/timer/timer.js): ids are host objects, not numbers ----
  const timerIds = new Map(); // handle -> numeric id the host knows
  function setTimer(callback, delay, repeat) {
    if (typeof callback !== "function") throw new TypeError("timer callback must be a function");
    const id = nextId++;
    const handle = Object.freeze({});
    timerIds.set(handle, id);
    timers.set(id, { callback, handle, repeat: repeat || 0 });
    host({ op: "timer.set", id, delay: Math.max(0, Number(delay) || 0), repeat: repeat || 0 });
    return handle;
  }
  function clearTimer(handle) {
    const id = timerIds.get(handle);
    if (id === undefined) return;
    timerIds.delete(handle);
    timers.delete(id);
    host({ op: "timer.clear", id });
  }
  const Timer = {
    set: (callback, delay, repeat) => setTimer(callback, delay, repeat),
    repeat: (callback, interval) => setTimer(callback, interval, interval),
    schedule(handle, delay, repeat) {
      const id = timerIds.get(handle);
      const t = id === undefined ? undefined : timers.get(id);
      if (!t) return;
      t.repeat = repeat || 0;
      host({ op: "timer.set", id, delay: Math.max(0, Number(delay) || 0), repeat: repeat || 0 });
    },
    clear: clearTimer,
    delay(ms) {
      host({ op: "delay", ms });
    },
  };
  // ---- system (modules/io/system/system.js): the global System, esp32 flavour ----
  const System = {
    setTimeout: (callback, ms) => setTimer(callback, ms, 0),
    clearTimeout: clearTimer,
    setInterval: (callback, ms) => setTimer(callback, ms, ms),
    clearInterval: clearTimer,
    resolve(name, callback) {
      throw new Error("System.resolve is not emulated by the virtual ESP32 (use a dotted IPv4 address)");
    },
    restart() {
      host({ op: "restart" });
      for (;;); // the host stops the worker before this line matters
    },
    deepSleep() {
      // Moddable's xs_system_deepSleep does nothing on ESP32; xsiot/native/esp32 does it.
      trace("System.deepSleep() ignored: not implemented on ESP32; use xsiot/native/esp32 deepSleep");
    },
  };
  // ---- time (modules/base/time/time.js): Time.set(seconds since the epoch) ----
  const Time = {
    set(seconds) {
      host({ op: "rtc.set", time: Number(seconds) * 1000 });
    },
    get timezone() {
      return 0;
    },
    get dst() {
      return 0;
    },
    get ticks() {
      return host({ op: "rtc.ticks" }).ticks;
    },
    delta(start, end) {
      return (end ?? this.ticks) - start;
    },
  };

  // ---- sockets -----------------------------------------------------------------
  class TCP {
    #id;
    #options;
    constructor(options, secure) {
      if (!options || typeof options !== "object") throw new TypeError("options required");
      const address = options.address ?? options.host;
      if (typeof address !== "string" || !(options.port > 0 && options.port < 65536))
        throw new RangeError("address/host and port required");
      this.#id = nextId++;
      this.#options = options;
      sockets.set(this.#id, this);
      host({ op: "tcp.open", id: this.#id, host: address, port: options.port, secure: secure ?? null });
    }
    get remoteAddress() {
      return this.#options.address ?? this.#options.host;
    }
    get remotePort() {
      return this.#options.port;
    }
    get format() {
      return "buffer";
    }
    set format(value) {
      if (value !== "buffer") throw new RangeError("only buffer format is supported");
    }
    read(count) {
      const r = host({ op: "tcp.read", id: this.#id, count: count === undefined ? -1 : count });
      return r.payload;
    }
    write(buffer) {
      return host({ op: "tcp.write", id: this.#id }, buffer).writable;
    }
    close() {
      if (!sockets.has(this.#id)) return;
      sockets.delete(this.#id);
      host({ op: "tcp.close", id: this.#id });
    }
    _event(e) {
      const o = this.#options;
      if (e.event === "readable") o.onReadable?.call(this, e.count);
      else if (e.event === "writable") o.onWritable?.call(this, e.count);
      else if (e.event === "error") {
        sockets.delete(this.#id);
        o.onError?.call(this, e.message);
      }
    }
  }
  class TLSSocket extends TCP {
    constructor(options) {
      const s = options?.secure ?? {};
      const text = (v) => (v === undefined ? undefined : typeof v === "string" ? v : decoder.decode(v));
      super(options, {
        ca: text(s.ca),
        certificate: text(s.certificate),
        key: text(s.key),
        serverName: s.serverName ?? options.host,
        alpn: s.applicationLayerProtocolNegotiation,
      });
    }
  }

  // ---- analog / digital / i2c -----------------------------------------------------
  class Analog {
    #pin;
    #resolution;
    constructor(options) {
      this.#pin = options?.pin;
      this.#resolution = host({ op: "adc.open", pin: this.#pin, attenuation: options?.attenuation }).resolution;
    }
    get resolution() {
      return this.#resolution;
    }
    read() {
      return host({ op: "adc.read", pin: this.#pin }).value;
    }
    close() {}
  }
  const DigitalModes = { Input: 0, InputPullUp: 1, InputPullDown: 2, InputPullUpDown: 3, Output: 8, OutputOpenDrain: 9 };
  class Digital {
    #id;
    #options;
    constructor(options) {
      if (!options || typeof options.pin !== "number") throw new TypeError("pin required");
      this.#id = nextId++;
      this.#options = options;
      if (options.onReadable) pins.set(this.#id, this);
      host({ op: "gpio.open", id: this.#id, pin: options.pin, mode: options.mode, edge: options.edge ?? 0 });
    }
    read() {
      return host({ op: "gpio.read", id: this.#id }).value;
    }
    write(value) {
      host({ op: "gpio.write", id: this.#id, value: value ? 1 : 0 });
    }
    close() {
      pins.delete(this.#id);
      host({ op: "gpio.close", id: this.#id });
    }
    _event() {
      this.#options.onReadable?.call(this);
    }
  }
  for (const [k, v] of Object.entries(DigitalModes)) Digital[k] = v;
  Digital.Rising = 1;
  Digital.Falling = 2;

  class I2C {
    #id;
    constructor(options) {
      this.#id = nextId++;
      host({ op: "i2c.open", id: this.#id, address: options?.address, hz: options?.hz, data: options?.data, clock: options?.clock });
    }
    read(count) {
      return host({ op: "i2c.read", id: this.#id, count }).payload ?? new ArrayBuffer(0);
    }
    write(buffer) {
      host({ op: "i2c.write", id: this.#id }, buffer);
    }
    close() {
      host({ op: "i2c.close", id: this.#id });
    }
  }

  // ---- storage ---------------------------------------------------------------------
  const KeyValue = {
    open(options) {
      const path = options?.path;
      const format = options?.format ?? "string";
      if (format !== "string" && format !== "buffer") throw new RangeError(`unsupported format "${format}"`);
      host({ op: "kv.open", path });
      return {
        read(key) {
          const r = host({ op: "kv.read", path, key });
          if (!r.found) return undefined;
          const bytes = r.payload ?? new ArrayBuffer(0);
          return format === "string" ? decoder.decode(bytes) : bytes;
        },
        write(key, value) {
          host({ op: "kv.write", path, key }, typeof value === "string" ? encoder.encode(value) : value);
        },
        delete(key) {
          host({ op: "kv.delete", path, key });
        },
        close() {},
      };
    },
  };
  const Flash = {
    open(options) {
      const path = options?.path;
      const info = host({ op: "flash.open", path });
      return {
        read: (byteLength, byteOffset) => host({ op: "flash.read", path, byteLength, byteOffset }).payload ?? new ArrayBuffer(0),
        write: (buffer, byteOffset) => void host({ op: "flash.write", path, byteOffset }, buffer),
        eraseBlock: (block) => void host({ op: "flash.erase", path, block }),
        status: () => ({ size: info.size, blockLength: info.blockLength }),
        close() {},
      };
    },
  };
  const Update = {
    open(options) {
      const r = host({ op: "update.open", byteLength: options?.byteLength, partition: options?.partition, mode: options?.mode });
      const partition = r.partition;
      let position = r.position ?? 0;
      return {
        partition,
        write(bytes, byteOffset) {
          const at = byteOffset ?? position;
          const n = ArrayBuffer.isView(bytes) ? bytes.byteLength : bytes.byteLength;
          host({ op: "update.write", partition, byteOffset: at }, bytes);
          position = at + n;
        },
        read: (byteLength, byteOffset) => host({ op: "update.read", partition, byteLength, byteOffset }).payload,
        complete: () => void host({ op: "update.complete", partition }),
        cancel: () => void host({ op: "update.cancel", partition }),
        close() {},
      };
    },
  };

  // ---- crypto (backed by the host's crypto, as the chip's is by hardware) -------------
  class Digest {
    #id;
    constructor(algorithm) {
      this.#id = nextId++;
      host({ op: "digest.new", id: this.#id, algorithm });
    }
    write(data) {
      host({ op: "digest.write", id: this.#id }, typeof data === "string" ? encoder.encode(data) : data);
    }
    close() {
      return host({ op: "digest.close", id: this.#id }).payload;
    }
    reset() {
      host({ op: "digest.reset", id: this.#id });
    }
  }
  class ECDSA {
    #key;
    constructor(publicKey, curve) {
      if (curve !== "P-256") throw new RangeError(`unsupported curve ${curve}`);
      this.#key = publicKey;
      host({ op: "ecdsa.check", curve }, publicKey);
    }
    verify(digest, signature) {
      const d = new Uint8Array(digest);
      const k = new Uint8Array(this.#key);
      const s = new Uint8Array(signature);
      const all = new Uint8Array(d.length + k.length + s.length);
      all.set(d, 0);
      all.set(k, d.length);
      all.set(s, d.length + k.length);
      return host({ op: "ecdsa.verify", digest: d.length, key: k.length }, all).valid;
    }
  }

  // ---- xsiot/native/esp32 ------------------------------------------------------------
  const esp32 = {
    RETAINED_SIZE: 4096,
    deepSleep(options) {
      const o = options ?? {};
      // The host kills the worker during this call, so the delivery never reports its
      // meters: read the compute meter here for the energy account of this wake.
      let compute = null;
      try {
        if (typeof resetMeter === "function" && typeof currentMeterLimit === "function") {
          const limit = currentMeterLimit();
          compute = resetMeter(limit, 0);
          resetMeter(limit, compute);
        }
      } catch {
        compute = null;
      }
      host({ op: "deepSleep", us: o.us ?? null, ext0: o.ext0 ?? null, ext1: o.ext1 ?? null, compute });
      for (;;); // unreachable: the host powers the worker down during the call
    },
    wakeCause: () => host({ op: "esp32.info" }).wakeCause,
    wakePin: () => host({ op: "esp32.info" }).wakePin,
    resetReason: () => host({ op: "esp32.info" }).resetReason,
    retained: () => host({ op: "retained.read" }).payload,
    retain(data, at) {
      host({ op: "retained.write", at: at ?? 0 }, data);
    },
    ota: {
      running: () => host({ op: "ota.info" }).running,
      next: () => host({ op: "ota.info" }).next,
      state: () => host({ op: "ota.info" }).state,
      markValid: () => void host({ op: "ota.markValid" }),
      rollback() {
        host({ op: "ota.rollback" });
        for (;;);
      },
    },
  };

  // Emulations by the name table.json gives them ("sim"); each returns the module namespace for a specifier.
  const emulations = {
    timer: () => ({ default: Timer }),
    time: () => ({ default: Time }),
    system: () => ({}),
    tcp: () => ({ default: TCP }),
    tls: () => ({ default: TLSSocket }),
    analog: () => ({ default: Analog }),
    digital: () => ({ default: Digital }),
    i2c: () => ({ default: I2C }),
    "key-value": () => ({ default: KeyValue }),
    flash: () => ({ default: Flash }),
    update: () => ({ default: Update }),
    crypt: () => ({ Digest }),
    ecdsa: () => ({ default: ECDSA }),
    text: (specifier) => ({ default: specifier === "text/decoder" ? TextDecoder : TextEncoder }),
    "native-esp32": () => ({ ...esp32, default: esp32 }),
    config: () => ({ default: host({ op: "config" }).config }),
  };
  const emulatedGlobals = {
    trace: () => trace,
    system: () => System,
  };
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
    const make = row.sim === null ? undefined : emulations[row.sim];
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
  let compartment;
  function makeCompartment(device) {
    const globals = { Date: VirtualDate };
    for (const [name, row] of Object.entries(device.globals)) {
      const make = row.sim === null ? undefined : emulatedGlobals[row.sim];
      if (make) globals[name] = make();
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
        const r = host({ op: "module", specifier, importer: importer.get(specifier) ?? null });
        return { source: new ModuleSource(decoder.decode(r.payload), specifier) };
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
      case "boot": {
        compartment = makeCompartment(message.device);
        // Preloaded app modules run at build time on Moddable, before main, and are frozen.
        const seen = new Set();
        for (const specifier of message.preload ?? []) {
          const ns = compartment.importNow(specifier);
          for (const v of Object.values(ns)) freezeFunctions(v, seen);
        }
        const main = compartment.importNow(message.main);
        if (typeof main.default === "function") main.default();
        return;
      }
      case "timer": {
        const t = timers.get(message.id);
        if (!t) return;
        if (!t.repeat) {
          timers.delete(message.id);
          timerIds.delete(t.handle);
        }
        t.callback(t.handle);
        return;
      }
      case "tcp":
        sockets.get(message.id)?._event(message);
        return;
      case "gpio":
        pins.get(message.id)?._event();
        return;
      case "eval":
        // Test hook: evaluates a snippet in the app's compartment.
        return compartment.evaluate(message.code);
      default:
        throw new Error(`unknown delivery ${message.type}`);
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
