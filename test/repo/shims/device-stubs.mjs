// Module hooks for tests that only load SDK modules (no device behaviour): every
// device specifier resolves to an inert stub, so the module graph links in Node.
const DEVICE = /^(embedded:|timer$|crypt$|ecdsa$|mc\/config$|xsiot\/native\/)/;
const NAMED = ["Digest", "deepSleep", "resetReason", "retain", "retained", "wakeCause", "wakePin", "ota", "RETAINED_SIZE"];
const SOURCE = `const stub = class { constructor() { throw new Error("device stub"); } };
export default stub;
${NAMED.map((n) => `export const ${n} = stub;`).join("\n")}`;

export async function resolve(specifier, context, next) {
  if (DEVICE.test(specifier)) return { url: `xsiot-stub:${specifier}`, shortCircuit: true };
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url.startsWith("xsiot-stub:")) return { format: "module", source: SOURCE, shortCircuit: true };
  return next(url, context);
}
