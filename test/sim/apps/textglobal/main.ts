// Moddable has TextDecoder only as the module "text/decoder" (modules/data/text/decoder),
// never as a global: the global use must fail with a ReferenceError as on the chip.
import config from "mc/config";
import Decoder from "text/decoder";
const c = config as { viaModule?: boolean };
const bytes = Uint8Array.of(0x68, 0x69);
if (c.viaModule) trace(`decoded ${new (Decoder as typeof TextDecoder)().decode(bytes)}`);
else trace(`decoded ${new TextDecoder().decode(bytes)}`);
