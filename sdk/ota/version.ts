// Firmware versions: 1 to 4 dot-separated decimal numbers ("1.2.0"), each at most
// 6 digits. Compared numerically part by part; missing parts count as 0.

const VERSION = /^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$/;

export function isVersion(v: unknown): v is string {
  return typeof v === "string" && VERSION.test(v);
}

/** Negative when a < b, 0 when equal, positive when a > b. Both must pass isVersion. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < 4; i++) {
    const d = Number(pa[i] ?? "0") - Number(pb[i] ?? "0");
    if (d !== 0) return d;
  }
  return 0;
}
