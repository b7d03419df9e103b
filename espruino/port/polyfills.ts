// What the SDK uses that Espruino 2v29 lacks. Constructors (Map, Set,
// TextEncoder, TextDecoder) are injected by the build into the modules that
// name them, so the bundle adds no globals; missing methods of built-in
// prototypes and statics are added here once, only when absent.
import { utf8Decode, utf8Length, utf8Write } from "../../sdk/text/utf8";

// ---------------------------------------------------------------- Map / Set
// Insertion-ordered, keys compared with ===; linear lookup (the SDK's maps hold
// a handful of entries: packets in flight, routes, pending requests).
// keys()/values()/entries() return arrays (for...of and Array.from take them);
// "@@iterator" is what Babel's loose for...of looks for when Symbol is absent.

function iterate<T>(items: T[]): { next(): { done: boolean; value: T | undefined } } {
  let i = 0;
  return {
    next() {
      return i < items.length ? { done: false, value: items[i++] } : { done: true, value: undefined };
    },
  };
}

export class EspMap<K, V> {
  size = 0;
  private k: K[] = [];
  private v: V[] = [];
  constructor(entries?: [K, V][]) {
    if (entries) for (let i = 0; i < entries.length; i++) this.set(entries[i][0], entries[i][1]);
  }
  get(key: K): V | undefined {
    const i = this.k.indexOf(key);
    return i < 0 ? undefined : this.v[i];
  }
  has(key: K): boolean {
    return this.k.indexOf(key) >= 0;
  }
  set(key: K, value: V): this {
    const i = this.k.indexOf(key);
    if (i >= 0) this.v[i] = value;
    else {
      this.k.push(key);
      this.v.push(value);
      this.size = this.k.length;
    }
    return this;
  }
  delete(key: K): boolean {
    const i = this.k.indexOf(key);
    if (i < 0) return false;
    this.k.splice(i, 1);
    this.v.splice(i, 1);
    this.size = this.k.length;
    return true;
  }
  clear(): void {
    this.k = [];
    this.v = [];
    this.size = 0;
  }
  forEach(f: (value: V, key: K, map: this) => void, self?: unknown): void {
    const k = this.k.slice(), v = this.v.slice();
    for (let i = 0; i < k.length; i++) f.call(self, v[i], k[i], this);
  }
  keys(): K[] {
    return this.k.slice();
  }
  values(): V[] {
    return this.v.slice();
  }
  entries(): [K, V][] {
    const out: [K, V][] = [];
    for (let i = 0; i < this.k.length; i++) out.push([this.k[i], this.v[i]]);
    return out;
  }
}
(EspMap.prototype as any)["@@iterator"] = function (this: EspMap<unknown, unknown>) {
  return iterate(this.entries());
};

export class EspSet<T> {
  size = 0;
  private k: T[] = [];
  constructor(values?: T[]) {
    if (values) for (let i = 0; i < values.length; i++) this.add(values[i]);
  }
  has(value: T): boolean {
    return this.k.indexOf(value) >= 0;
  }
  add(value: T): this {
    if (this.k.indexOf(value) < 0) this.size = this.k.push(value);
    return this;
  }
  delete(value: T): boolean {
    const i = this.k.indexOf(value);
    if (i < 0) return false;
    this.k.splice(i, 1);
    this.size = this.k.length;
    return true;
  }
  clear(): void {
    this.k = [];
    this.size = 0;
  }
  forEach(f: (value: T, again: T, set: this) => void, self?: unknown): void {
    const k = this.k.slice();
    for (let i = 0; i < k.length; i++) f.call(self, k[i], k[i], this);
  }
  values(): T[] {
    return this.k.slice();
  }
  keys(): T[] {
    return this.k.slice();
  }
}
(EspSet.prototype as any)["@@iterator"] = function (this: EspSet<unknown>) {
  return iterate(this.values());
};

// ---------------------------------------------------------------- text
/** UTF-8 via the SDK's own codec (the strict one, lenient here: U+0000 allowed). */
export class EspTextEncoder {
  encode(s?: string): Uint8Array {
    const str = s === undefined ? "" : String(s);
    const out = new Uint8Array(utf8Length(str));
    utf8Write(str, out, 0);
    return out;
  }
}

export class EspTextDecoder {
  decode(input?: ArrayBuffer | ArrayBufferView): string {
    if (!input) return "";
    const b = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    return utf8Decode(b, 0, b.length);
  }
}

// ---------------------------------------------------------------- built-ins
const P = (o: any, name: string, f: unknown): void => {
  if (typeof o[name] !== "function") o[name] = f;
};
const num = (v: unknown): v is number => typeof v === "number" && isFinite(v);

P(Object, "freeze", (o: unknown) => o); // Espruino has no frozen objects: the SDK only freezes its defaults
P(Number, "isFinite", num);
P(Number, "isNaN", (v: unknown) => typeof v === "number" && v !== v);
P(Number, "isInteger", (v: unknown) => num(v) && Math.floor(v) === v);
P(Number, "isSafeInteger", (v: unknown) => num(v) && Math.floor(v) === v && Math.abs(v) <= 9007199254740991);
P(Math, "trunc", (v: number) => (v < 0 ? Math.ceil(v) : Math.floor(v)));
P(Math, "sign", (v: number) => (v > 0 ? 1 : v < 0 ? -1 : v));
P(Math, "fround", (v: number) => new Float32Array([v])[0]);
P(Math, "imul", (a: number, b: number) => {
  const lo = ((a & 0xffff) * b) | 0;
  return (lo + ((((a >>> 16) * b) | 0) << 16)) | 0;
});
P(Array, "from", (src: any, f?: (v: unknown, i: number) => unknown) => {
  const out: unknown[] = [];
  if (src == null) return out;
  const it = src["@@iterator"];
  if (typeof it === "function") {
    const i = it.call(src);
    for (let r = i.next(); !r.done; r = i.next()) out.push(r.value);
  } else for (let j = 0; j < src.length; j++) out.push(src[j]);
  if (f) for (let j = 0; j < out.length; j++) out[j] = f(out[j], j);
  return out;
});
// (Espruino's built-in functions have no .call: copy arguments by hand.)
function args(a: IArguments): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) out.push(a[i]);
  return out;
}
P(Array, "of", function () {
  return args(arguments);
});
const A = Array.prototype as any;
P(A, "includes", function (this: unknown[], v: unknown) {
  return this.indexOf(v) >= 0;
});
P(A, "find", function (this: unknown[], f: (v: unknown, i: number) => unknown) {
  for (let i = 0; i < this.length; i++) if (f(this[i], i)) return this[i];
  return undefined;
});
P(A, "findIndex", function (this: unknown[], f: (v: unknown, i: number) => unknown) {
  for (let i = 0; i < this.length; i++) if (f(this[i], i)) return i;
  return -1;
});
P(A, "fill", function (this: unknown[], v: unknown, from?: number, to?: number) {
  for (let i = from || 0, n = to === undefined ? this.length : to; i < n; i++) this[i] = v;
  return this;
});
// Espruino's TypedArray slice returns an Array, ArrayBuffer has none, of() is missing: the SDK copies bytes with them.
const U = Uint8Array.prototype as any;
if (!(new Uint8Array(1).slice(0) instanceof Uint8Array)) {
  U.slice = function (this: Uint8Array, from?: number, to?: number) {
    return new Uint8Array(this.subarray(from === undefined ? 0 : from, to === undefined ? this.length : to));
  };
}
P(ArrayBuffer.prototype, "slice", function (this: ArrayBuffer, from?: number, to?: number) {
  return new Uint8Array(this).slice(from, to).buffer;
});
P(Uint8Array, "of", function () {
  return new Uint8Array(args(arguments));
});
P(Promise.prototype, "finally", function (this: Promise<unknown>, f: () => void) {
  return this.then(
    (v) => {
      f();
      return v;
    },
    (e) => {
      f();
      throw e;
    },
  );
});
P(Promise, "race", (ps: Promise<unknown>[]) => new Promise((resolve, reject) => {
  for (let i = 0; i < ps.length; i++) Promise.resolve(ps[i]).then(resolve, reject);
}));
