// Module resolution hook: maps the device specifiers client.ts imports to host shims.
const MAP = {
  "embedded:io/socket/tcp": "./tcp.ts",
  "embedded:io/socket/tcp/tls": "./tls.ts",
  "timer": "./timer.ts",
};
export async function resolve(specifier, context, next) {
  const to = MAP[specifier];
  if (to) return next(new URL(to, import.meta.url).href, context);
  return next(specifier, context);
}
