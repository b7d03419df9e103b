/**
 * The only error the CBOR codec throws, for any input or option.
 * `offset` is the byte offset in the input where decoding stopped
 * (for encoding: the output offset reached, or -1 when not applicable).
 */
export class CborError extends Error {
  readonly offset: number;
  constructor(message: string, offset = -1) {
    super(offset >= 0 ? `CBOR: ${message} at offset ${offset}` : `CBOR: ${message}`);
    this.offset = offset;
  }
}
// `name` on the prototype: `this.name = ...` throws where Error.prototype is frozen (Moddable).
Object.defineProperty(CborError.prototype, "name", { value: "CborError", configurable: true, writable: true });
