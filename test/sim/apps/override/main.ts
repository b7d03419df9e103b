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
} else if (c.probe === "base64") {
  // Uint8Array.fromBase64, an XS built-in on Moddable 8.2.3 (xs/sources/xsDataView.c).
  const U = Uint8Array as unknown as { fromBase64(s: unknown, o?: unknown): Uint8Array };
  const cases: [string, unknown, unknown][] = [
    ["padded", "aGVsbG8=", undefined],
    ["whitespace", " aGVs\nbG8=\t", undefined],
    ["loose partial", "aGVsbG8", undefined],
    ["strict partial", "aGVsbG8", { lastChunkHandling: "strict" }],
    ["stop-before-partial", "aGVsbG8", { lastChunkHandling: "stop-before-partial" }],
    ["loose bits", "aGVsbG9=", undefined],
    ["strict bits", "aGVsbG9=", { lastChunkHandling: "strict" }],
    ["url", "-_8", { alphabet: "base64url" }],
    ["std in url", "+/8", { alphabet: "base64url" }],
    ["bad character", "aGV*", undefined],
    ["not a string", 42, undefined],
    ["options not an object", "aGVs", 1],
    ["bad alphabet", "aGVs", { alphabet: "hex" }],
  ];
  for (const [what, text, options] of cases) {
    try {
      trace(`${what} ${Array.from(U.fromBase64(text, options)).join(",")}`);
    } catch (e) {
      trace(`${what} ${(e as Error).name}`);
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
