export function explode(why: string): never {
  const detail = `driver failed: ${why}`;
  throw new Error(detail);
}
