// Scheduler configuration: defaults, and validation of a config object from
// the device shadow (desired.config) or mc/config. Unknown keys are ignored,
// out-of-range values are refused one by one (the rest still applies).

export interface SleepConfig {
  /** Seconds between sampling wakes. */
  sampleS: number;
  /** Seconds between batch uplinks. */
  uplinkS: number;
  /** Uplink as soon as this many readings wait (besides the interval). */
  batch: number;
  /** Threshold crossing (either way) triggers an immediate uplink; null: none. */
  high: number | null;
  low: number | null;
  /** Hysteresis around the thresholds, value units. */
  hysteresis: number;
  /** Below this battery voltage (mV): low-battery mode. */
  lowBatteryMv: number;
  /** Low-battery mode multiplies both intervals by this. */
  lowBatteryStretch: number;
  /** Radio-on budget per uplink, ms (connect to last acknowledgement). */
  radioBudgetMs: number;
  /** First retry delay after a failed uplink, s (doubles per failure). */
  backoffS: number;
  /** Longest backoff, s. */
  maxBackoffS: number;
  /** Readings per MQTT message. */
  perMessage: number;
  /** Readings most sent in one uplink. */
  maxPerUplink: number;
  /** Ring readings written to flash every this many readings (1: every reading durable at once). */
  checkpointEvery: number;
  /** "batched" (default) or "naive": connect and publish every reading. */
  mode: "batched" | "naive";
}

export const DEFAULT_CONFIG: SleepConfig = {
  sampleS: 900,
  uplinkS: 6 * 3600,
  batch: 48,
  high: null,
  low: null,
  hysteresis: 0.5,
  lowBatteryMv: 2400,
  lowBatteryStretch: 4,
  radioBudgetMs: 8000,
  backoffS: 900,
  maxBackoffS: 6 * 3600,
  perMessage: 24,
  maxPerUplink: 192,
  checkpointEvery: 4,
  mode: "batched",
};

const RANGES: { [K in keyof SleepConfig]?: [number, number] } = {
  sampleS: [1, 86400],
  uplinkS: [60, 7 * 86400],
  batch: [1, 2000],
  hysteresis: [0, 1000],
  lowBatteryMv: [0, 5000],
  lowBatteryStretch: [1, 100],
  radioBudgetMs: [500, 60000],
  backoffS: [10, 86400],
  maxBackoffS: [60, 7 * 86400],
  perMessage: [1, 64],
  maxPerUplink: [1, 2000],
  checkpointEvery: [1, 64],
};

/** Applies the recognised, valid keys of `input` over `base`. Returns the new config and the keys refused. */
export function applyConfig(base: SleepConfig, input: unknown): { config: SleepConfig; refused: string[] } {
  const config: SleepConfig = { ...base };
  const refused: string[] = [];
  if (typeof input !== "object" || input === null || Array.isArray(input)) return { config, refused: input === undefined ? [] : ["<not an object>"] };
  const o = input as Record<string, unknown>;
  let keys = 0;
  for (const key in o) {
    if (++keys > 64) break; // bounded
    const v = o[key];
    if (key === "mode") {
      if (v === "batched" || v === "naive") config.mode = v;
      else refused.push(key);
      continue;
    }
    if (key === "high" || key === "low") {
      if (v === null || (typeof v === "number" && Number.isFinite(v) && Math.abs(v) < 1e6)) config[key] = v as number | null;
      else refused.push(key);
      continue;
    }
    const range = RANGES[key as keyof SleepConfig];
    if (!range) continue;
    if (typeof v === "number" && Number.isFinite(v) && v >= range[0] && v <= range[1]) (config as unknown as Record<string, number>)[key] = v;
    else refused.push(key);
  }
  if (config.high !== null && config.low !== null && config.low >= config.high) {
    refused.push("low/high");
    config.low = base.low;
    config.high = base.high;
  }
  return { config, refused };
}
