// The "override mistake": a Moddable build freezes Error.prototype, so assigning
// this.name in an Error subclass throws TypeError; defining it on the prototype works.
import config from "mc/config";
class Assigned extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Assigned";
  }
}
class Defined extends Error {}
Object.defineProperty(Defined.prototype, "name", { value: "Defined" });
const c = config as { probe?: string };
if (c.probe === "builtins") {
  const frozen = [Error.prototype, Object.prototype, Array.prototype, Function.prototype, Math, JSON, Error, Array.prototype.push];
  trace(`frozen ${frozen.every((o) => Object.isFrozen(o))}`);
  try {
    (Array.prototype as unknown as Record<string, unknown>).extra = 1;
    trace("patched");
  } catch (e) {
    trace(`patch refused ${(e as Error).name}`);
  }
  // XS built-ins of every Moddable build (xs/sources/xsDataView.c, xsString.c).
  const X = ArrayBuffer as unknown as { fromString(s: string): ArrayBuffer };
  const S = String as unknown as { fromArrayBuffer(b: ArrayBuffer): string };
  trace(`fromString ${new Uint8Array(X.fromString("h\u00e9")).length} ${S.fromArrayBuffer(X.fromString("h\u00e9"))}`);
  const unbound = X.fromString;
  for (const [what, f] of [
    ["unbound", () => unbound("x")],
    ["bad utf-8", () => S.fromArrayBuffer(Uint8Array.of(0xff).buffer)],
  ] as const) {
    try {
      f();
      trace(`${what} ok`);
    } catch (e) {
      trace(`${what} ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
} else {
  trace(`defined ${new Defined("x").name}`);
  try {
    new Assigned("x");
    trace("assigned");
  } catch (e) {
    trace(`assign threw ${(e as Error).constructor.name}: ${(e as Error).message}`);
  }
}
