// Command-line conventions shared by every xsiot command: -h/--help prints the
// usage, a bad option or argument is a UsageError that the dispatcher prints
// with the usage and turns into exit status 2.
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}

/** parseArgs with --help added; undefined when the usage was printed (the command then exits 0). */
export function parseCommandArgs<const O extends ParseArgsOptionsConfig, const P extends boolean = false>(
  args: string[],
  options: O,
  usage: string,
  allowPositionals?: P,
) {
  const config = { args, options: { ...options, help: { type: "boolean", short: "h" } } as O & { help: { type: "boolean"; short: "h" } }, allowPositionals: (allowPositionals ?? false) as P };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (e) {
    throw new UsageError((e as Error).message, usage);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    return undefined;
  }
  return parsed;
}
