// ES5 base of the SDK's error classes on Espruino. Babel's `class X extends
// Error` needs Reflect.construct, which Espruino lacks; the build
// (rollup.config.mjs, errorBase) makes such classes extend this instead.
// `instanceof Error`, .name and .message behave as on XS; String(e) gives
// "Name: message" (Espruino's Object toString would give "[object Object]").
export function EspError(this: { message: string }, message?: unknown): void {
  this.message = message === undefined ? "" : String(message);
}
EspError.prototype = Object.create(Error.prototype);
EspError.prototype.constructor = EspError;
EspError.prototype.name = "Error";
EspError.prototype.toString = function (this: { name: string; message: string }): string {
  return this.message ? this.name + ": " + this.message : this.name;
};

/** Espruino has no RangeError: the SDK's range checks throw this (instanceof Error, name "RangeError"). */
export function EspRangeError(this: { message: string }, message?: unknown): void {
  this.message = message === undefined ? "" : String(message);
}
EspRangeError.prototype = Object.create(EspError.prototype);
EspRangeError.prototype.constructor = EspRangeError;
EspRangeError.prototype.name = "RangeError";
