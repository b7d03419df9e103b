// Module resolution hook for Node unit tests of sdk/shadow and sdk/jobs: maps the
// device specifiers they import to host stand-ins (tests inject timers and storage).
const MAP = {
  timer: "./timer.ts",
  "embedded:storage/key-value": "./kv.ts",
};
export async function resolve(specifier, context, next) {
  const to = MAP[specifier];
  if (to) return next(new URL(to, import.meta.url).href, context);
  return next(specifier, context);
}
