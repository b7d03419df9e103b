// CLI dispatcher: `xsiot <command> [...args]`. Each command lives in
// tools/cli/commands/<command>.ts and exports `summary` and `run(args)`.
import { readdirSync } from "node:fs";
import { UsageError } from "./args.ts";

export interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

const commandsDir = new URL("./commands/", import.meta.url);

function commandNames(): string[] {
  return readdirSync(commandsDir)
    .filter((f) => f.endsWith(".ts"))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function usage(): Promise<string> {
  const lines = ["usage: xsiot <command> [options]", "", "commands:"];
  for (const name of commandNames()) {
    const cmd = (await import(new URL(`${name}.ts`, commandsDir).href)) as Command;
    lines.push(`  ${name.padEnd(10)} ${cmd.summary}`);
  }
  lines.push("", "Run `xsiot <command> --help` for a command's options.");
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(await usage());
    return name ? 0 : 2;
  }
  if (!commandNames().includes(name)) {
    console.error(`xsiot: unknown command "${name}"\n\n${await usage()}`);
    return 2;
  }
  const cmd = (await import(new URL(`${name}.ts`, commandsDir).href)) as Command;
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`xsiot ${name}: ${err.message}${err.usage ? `\n\n${err.usage}` : ""}`);
      return 2;
    }
    console.error(`xsiot ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
