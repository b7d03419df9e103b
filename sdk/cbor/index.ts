// xsiot CBOR codec: an RFC 8949 subset for device code (see README.md).
export { CborError } from "./error";
export { DEFAULT_LIMITS } from "./limits";
export type { CborLimits } from "./limits";
export { decode } from "./decode";
export type { CborValue, CborObject, DecodeOptions } from "./decode";
export { encode, encodeInto, encodedLength } from "./encode";
export type { EncodeOptions } from "./encode";
