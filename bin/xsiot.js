#!/usr/bin/env node
// The xsiot CLI. Host tools are TypeScript; tsx compiles them on load.
import { register } from "tsx/esm/api";
register();
const { main } = await import("../tools/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
