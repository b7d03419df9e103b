// Imports embedded:io/system, which exists only as a typings name in Moddable: on the chip
// System is a global set up by the preloaded "system" module. The boot must fail.
// @ts-ignore -- the name is in Moddable's typings, not a module at run time
import System from "embedded:io/system";
trace(`booted ${typeof System}`);
