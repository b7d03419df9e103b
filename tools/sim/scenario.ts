// A scenario scripts the world around a virtual ESP32: ADC inputs (mV at the
// pin), GPIO levels, I2C sensors, and network faults, as functions of virtual
// time since the simulation started. JSON (comments allowed); every error
// names the file and line.
//
// {
//   "adc":  { "36": { "type": "ramp", "from": 900, "to": 1400, "duration": "24h", "noise": 3 } },
//   "gpio": { "4":  { "type": "piecewise", "points": [["0s", 1], ["3h", 0], ["3h2s", 1]] } },
//   "i2c":  { "0x44": { "device": "sht3x", "temperature": { "type": "sine", "mean": 21, "amplitude": 4, "period": "24h" },
//                                          "humidity": { "type": "constant", "value": 45 } } },
//   "network": { "down": [["12h", "24h"]], "latency": "50ms" }
// }
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseTree, findNodeAtLocation, type Node, type ParseError, printParseErrorCode } from "jsonc-parser";
import { parseDuration } from "./duration.ts";

export class ScenarioError extends Error {}

export type Signal = (tMs: number) => number;

export interface Scenario {
  file?: string;
  adc: Map<number, Signal>;
  gpio: Map<number, { level: Signal; edges: (fromMs: number, toMs: number) => number | undefined }>;
  i2c: Map<number, { device: string; inputs: Record<string, Signal> }>;
  network: { down: [number, number][]; latencyMs: number };
}

export function emptyScenario(): Scenario {
  return { adc: new Map(), gpio: new Map(), i2c: new Map(), network: { down: [], latencyMs: 0 } };
}

// Deterministic noise: a hash of (seed, time bucket) -> roughly normal.
function noiseAt(seed: number, t: number): number {
  let h = (Math.floor(t / 1000) * 2654435761) ^ (seed * 40503);
  let sum = 0;
  for (let i = 0; i < 4; i++) {
    h = Math.imul(h ^ (h >>> 15), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    h ^= h >>> 16;
    sum += (h >>> 0) / 4294967296;
  }
  return (sum - 2) * Math.sqrt(3); // variance 1
}

class Reader {
  constructor(readonly file: string, readonly text: string) {}
  where(node: Node | undefined): string {
    if (!node) return this.file;
    const line = this.text.slice(0, node.offset).split("\n").length;
    return `${this.file}:${line}`;
  }
  fail(node: Node | undefined, message: string): never {
    throw new ScenarioError(`${this.where(node)}: ${message}`);
  }
  value(node: Node | undefined): unknown {
    if (!node) return undefined;
    if (node.type === "object") {
      const o: Record<string, unknown> = {};
      for (const p of node.children ?? []) o[p.children![0].value as string] = this.value(p.children![1]);
      return o;
    }
    if (node.type === "array") return (node.children ?? []).map((c) => this.value(c));
    return node.value;
  }
  duration(node: Node | undefined, what: string): number {
    try {
      return parseDuration(this.value(node), what);
    } catch (e) {
      this.fail(node, (e as Error).message);
    }
  }
  number(node: Node | undefined, what: string): number {
    const v = this.value(node);
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(node, `${what} must be a number, got ${JSON.stringify(v)}`);
    return v;
  }
}

function prop(node: Node, key: string): Node | undefined {
  return findNodeAtLocation(node, [key]);
}

function parseSignal(r: Reader, node: Node, seed: number): Signal {
  if (node.type === "number") {
    const v = node.value as number;
    return () => v;
  }
  if (node.type !== "object") r.fail(node, "a signal is a number or an object with a \"type\"");
  const type = r.value(prop(node, "type"));
  const noise = prop(node, "noise") ? r.number(prop(node, "noise"), "noise") : 0;
  let base: Signal;
  switch (type) {
    case "constant": {
      const v = r.number(prop(node, "value"), "value");
      base = () => v;
      break;
    }
    case "ramp": {
      const from = r.number(prop(node, "from"), "from");
      const to = r.number(prop(node, "to"), "to");
      const start = prop(node, "start") ? r.duration(prop(node, "start"), "start") : 0;
      const duration = r.duration(prop(node, "duration"), "duration");
      if (duration <= 0) r.fail(prop(node, "duration"), "duration must be positive");
      base = (t) => from + (to - from) * Math.min(1, Math.max(0, (t - start) / duration));
      break;
    }
    case "sine": {
      const mean = r.number(prop(node, "mean"), "mean");
      const amplitude = r.number(prop(node, "amplitude"), "amplitude");
      const period = r.duration(prop(node, "period"), "period");
      base = (t) => mean + amplitude * Math.sin((2 * Math.PI * t) / period);
      break;
    }
    case "piecewise": {
      const pointsNode = prop(node, "points");
      if (!pointsNode || pointsNode.type !== "array" || !pointsNode.children?.length)
        r.fail(pointsNode ?? node, "piecewise needs \"points\": [[time, value], ...]");
      const points = pointsNode.children!.map((p) => {
        if (p.type !== "array" || p.children?.length !== 2) r.fail(p, "each point is [time, value]");
        return [r.duration(p.children![0], "point time"), r.number(p.children![1], "point value")] as [number, number];
      });
      for (let i = 1; i < points.length; i++)
        if (points[i][0] < points[i - 1][0]) r.fail(pointsNode.children![i], "point times must not decrease");
      const linear = r.value(prop(node, "interpolate")) === "linear";
      base = (t) => {
        let v = points[0][1];
        for (let i = 0; i < points.length; i++) {
          if (t < points[i][0]) {
            if (linear && i > 0) {
              const [t0, v0] = points[i - 1];
              const [t1, v1] = points[i];
              return v0 + ((v1 - v0) * (t - t0)) / (t1 - t0);
            }
            return v;
          }
          v = points[i][1];
        }
        return v;
      };
      (base as Signal & { steps?: [number, number][] }).steps = points;
      break;
    }
    case "csv": {
      const fileNode = prop(node, "file");
      const file = r.value(fileNode);
      if (typeof file !== "string") r.fail(fileNode ?? node, "csv needs \"file\"");
      const path = resolve(dirname(r.file), file);
      let text: string;
      try {
        text = readFileSync(path, "utf8");
      } catch {
        r.fail(fileNode, `cannot read ${path}`);
      }
      const rows: [number, number][] = [];
      text.split(/\r?\n/).forEach((line, i) => {
        if (!line.trim() || line.startsWith("#") || (i === 0 && /[a-z]/i.test(line))) return;
        const [t, v] = line.split(",").map((s) => s.trim());
        const tm = Number(t) * 1000;
        const vn = Number(v);
        if (!Number.isFinite(tm) || !Number.isFinite(vn)) throw new ScenarioError(`${path}:${i + 1}: expected "seconds,value", got "${line}"`);
        rows.push([tm, vn]);
      });
      if (!rows.length) r.fail(fileNode, `${path} has no rows`);
      base = (t) => {
        if (t <= rows[0][0]) return rows[0][1];
        for (let i = 1; i < rows.length; i++)
          if (t < rows[i][0]) return rows[i - 1][1] + ((rows[i][1] - rows[i - 1][1]) * (t - rows[i - 1][0])) / (rows[i][0] - rows[i - 1][0]);
        return rows[rows.length - 1][1];
      };
      break;
    }
    default:
      r.fail(prop(node, "type") ?? node, `unknown signal type ${JSON.stringify(type)} (constant, ramp, sine, piecewise, csv)`);
  }
  if (!noise) return base;
  return (t) => base(t) + noise * noiseAt(seed, t);
}

function pinNumber(r: Reader, node: Node, key: string, max = 39): number {
  const n = Number(key);
  if (!Number.isInteger(n) || n < 0 || n > max) r.fail(node, `${JSON.stringify(key)} is not an ESP32 GPIO number (0-${max})`);
  return n;
}

export function loadScenario(file: string, seed = 1): Scenario {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new ScenarioError(`${file}: cannot read scenario file`);
  }
  return parseScenario(text, file, seed);
}

export function parseScenario(text: string, file = "<scenario>", seed = 1): Scenario {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true });
  const r = new Reader(file, text);
  if (errors.length) {
    const e = errors[0];
    throw new ScenarioError(`${file}:${text.slice(0, e.offset).split("\n").length}: ${printParseErrorCode(e.error)}`);
  }
  if (!root || root.type !== "object") throw new ScenarioError(`${file}:1: a scenario is a JSON object`);
  const s = emptyScenario();
  s.file = file;
  for (const p of root.children ?? []) {
    const key = p.children![0].value as string;
    const val = p.children![1];
    if (!["adc", "gpio", "i2c", "network", "description"].includes(key))
      r.fail(p, `unknown section ${JSON.stringify(key)} (adc, gpio, i2c, network, description)`);
    if (key === "description") continue;
    if (val.type !== "object") r.fail(val, `"${key}" must be an object`);
    if (key === "adc")
      for (const e of val.children ?? []) {
        const pin = pinNumber(r, e, e.children![0].value);
        s.adc.set(pin, parseSignal(r, e.children![1], seed * 100 + pin));
      }
    if (key === "gpio")
      for (const e of val.children ?? []) {
        const pin = pinNumber(r, e, e.children![0].value);
        const sig = parseSignal(r, e.children![1], seed * 100 + pin);
        const steps = (sig as Signal & { steps?: [number, number][] }).steps;
        const level: Signal = (t) => (sig(t) >= 0.5 ? 1 : 0);
        s.gpio.set(pin, {
          level,
          // First time in (from, to] at which the level differs from its value at `from`.
          edges(from, to) {
            const start = level(from);
            if (steps) {
              for (const [t, v] of steps) if (t > from && t <= to && (v >= 0.5 ? 1 : 0) !== start) return t;
              return undefined;
            }
            for (let t = from + 1000; t <= to; t += 1000) if (level(t) !== start) return t;
            return undefined;
          },
        });
      }
    if (key === "i2c")
      for (const e of val.children ?? []) {
        const address = Number(e.children![0].value);
        if (!Number.isInteger(address) || address < 0x08 || address > 0x77) r.fail(e, `I2C address ${e.children![0].value} is not a 7-bit address`);
        const dev = e.children![1];
        const device = r.value(prop(dev, "device"));
        if (device !== "sht3x" && device !== "bme280") r.fail(prop(dev, "device") ?? dev, `unknown I2C device ${JSON.stringify(device)} (sht3x, bme280)`);
        const inputs: Record<string, Signal> = {};
        for (const q of dev.children ?? []) {
          const name = q.children![0].value as string;
          if (name === "device") continue;
          if (!["temperature", "humidity", "pressure"].includes(name)) r.fail(q, `unknown ${device} input ${JSON.stringify(name)}`);
          inputs[name] = parseSignal(r, q.children![1], seed * 1000 + address);
        }
        s.i2c.set(address, { device: device as string, inputs });
      }
    if (key === "network") {
      const down = prop(val, "down");
      if (down) {
        if (down.type !== "array") r.fail(down, "\"down\" is a list of [from, to] times");
        for (const w of down.children ?? []) {
          if (w.type !== "array" || w.children?.length !== 2) r.fail(w, "each outage is [from, to]");
          const a = r.duration(w.children![0], "outage start");
          const b = r.duration(w.children![1], "outage end");
          if (b <= a) r.fail(w, "outage end must be after its start");
          s.network.down.push([a, b]);
        }
      }
      if (prop(val, "latency")) s.network.latencyMs = r.duration(prop(val, "latency"), "latency");
    }
  }
  return s;
}
