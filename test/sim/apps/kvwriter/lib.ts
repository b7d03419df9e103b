export function value(n: number): string {
  return `${n}:` + String(n).repeat(300);
}
/** -1 for absent; -2 for a value that is not whole (corrupt). */
export function parse(v: string | undefined): number {
  if (v === undefined) return -1;
  const i = v.indexOf(":");
  const n = Number(v.slice(0, i));
  return i > 0 && v === value(n) ? n : -2;
}
