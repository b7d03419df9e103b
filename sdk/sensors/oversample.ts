import { SensorError } from "./error";

/**
 * Outlier-resistant reduction of oversampled readings. All functions sort
 * `values[0..count)` in place (insertion sort: counts are small) and allocate nothing.
 */
export type SampleFilter = "median" | "trimmed-mean" | "mean";

export const MAX_SAMPLES = 256;

function sortPrefix(values: Float64Array | number[], count: number): void {
  for (let i = 1; i < count; i++) {
    const v = values[i];
    let j = i - 1;
    while (j >= 0 && values[j] > v) {
      values[j + 1] = values[j];
      j--;
    }
    values[j + 1] = v;
  }
}

export function median(values: Float64Array | number[], count = values.length): number {
  if (count < 1) throw new SensorError("config", "median of no samples");
  sortPrefix(values, count);
  const h = count >> 1;
  return count & 1 ? values[h] : (values[h - 1] + values[h]) / 2;
}

/**
 * Mean after dropping the lowest and highest `trim` fraction (0 <= trim < 0.5)
 * of the samples; trim 0.25 is the interquartile mean.
 */
export function trimmedMean(values: Float64Array | number[], count = values.length, trim = 0.25): number {
  if (count < 1) throw new SensorError("config", "trimmed mean of no samples");
  if (!(trim >= 0 && trim < 0.5)) throw new SensorError("config", `trim ${trim} must be in [0, 0.5)`);
  sortPrefix(values, count);
  const drop = Math.floor(count * trim);
  let sum = 0;
  for (let i = drop; i < count - drop; i++) sum += values[i];
  return sum / (count - 2 * drop);
}

export function reduceSamples(values: Float64Array | number[], count: number, filter: SampleFilter, trim = 0.25): number {
  switch (filter) {
    case "median":
      return median(values, count);
    case "trimmed-mean":
      return trimmedMean(values, count, trim);
    case "mean":
      return trimmedMean(values, count, 0);
    default:
      throw new SensorError("config", `unknown sample filter ${String(filter)}`);
  }
}
