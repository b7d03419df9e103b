// text/decoder and text/encoder — Moddable modules/data/text/decoder/textdecoder.js and
// modules/data/text/encoder/textencoder.js (natives), mapped and preloaded by the manifests
// in modules/data/text/. They are modules there, never globals. Emulated with the engine's
// own TextDecoder/TextEncoder (UTF-8 only: a label other than "utf-8" throws RangeError, textdecoder.c).
export const xs = String.raw`function (sim) {
  const Decoder = TextDecoder;
  const Encoder = TextEncoder;
  class ModdableTextDecoder {
    #decoder;
    #fatal;
    #ignoreBOM;
    constructor(label, options) {
      if (label !== undefined && String(label) !== "utf-8") throw new RangeError("unsupported encoding");
      this.#fatal = !!options?.fatal;
      this.#ignoreBOM = !!options?.ignoreBOM;
      this.#decoder = new Decoder("utf-8", { fatal: this.#fatal, ignoreBOM: this.#ignoreBOM });
    }
    get fatal() {
      return this.#fatal;
    }
    get ignoreBOM() {
      return this.#ignoreBOM;
    }
    decode(buffer, options) {
      return options === undefined ? this.#decoder.decode(buffer) : this.#decoder.decode(buffer, options);
    }
    get encoding() {
      return "utf-8";
    }
  }
  class ModdableTextEncoder {
    #encoder = new Encoder();
    encode(string) {
      return this.#encoder.encode(string);
    }
    encodeInto(string, buffer) {
      return this.#encoder.encodeInto(string, buffer);
    }
    get encoding() {
      return "utf-8";
    }
  }
  sim.emulations.text = (specifier) => ({ default: specifier === "text/decoder" ? ModdableTextDecoder : ModdableTextEncoder });
}`;
