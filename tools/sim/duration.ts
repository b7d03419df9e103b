const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

// "15m", "6h", "1d", "250ms", "90s", "3h2s" or a number of seconds -> milliseconds.
export function parseDuration(value: unknown, what = "duration"): number {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value * 1000;
  if (typeof value === "string") {
    const text = value.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
    if (/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) {
      let ms = 0;
      for (const [, n, , unit] of text.matchAll(/(\d+(\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(n) * UNITS[unit];
      return ms;
    }
  }
  throw new RangeError(`${what} must be a number of seconds or like "250ms", "90s", "15m", "6h", "3h2s", "7d"; got ${JSON.stringify(value)}`);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)}m`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)}h`;
  return `${(ms / 86_400_000).toFixed(1)}d`;
}
