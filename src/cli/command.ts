/** Parsing shared by the maintenance commands (wait, gc, stats): the cache flags plus the command's own. */
import { CACHE_FLAGS, UsageError, buildCommandConfig, parseFlags, type Config, type FlagSpec } from "../config.ts";
import { flagTable } from "./usage.ts";

export interface CommandSpec {
  name: string;
  /** One paragraph: what the command does, printed under its usage line. */
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  /** The cache flags its usage lists (default: all); every cache flag is accepted. */
  cacheFlags?: string[];
}

export function commandUsage(c: CommandSpec): string {
  const shown = Object.fromEntries(Object.entries(CACHE_FLAGS).filter(([n]) => !(n in c.flags) && (!c.cacheFlags || c.cacheFlags.includes(n))));
  return `go-cache-plugin ${c.name}: ${c.summary}\n\nUsage:\n  ${c.usage}\n\n${c.name} flags:\n${flagTable(c.flags)}\n\n${c.cacheFlags ? "Bucket flags" : "Cache and bucket flags"} (as in direct mode):\n${flagTable(shown)}\n`;
}

/** The parsed command line; undefined after printing --help. */
export function parseCommand(argv: string[], c: CommandSpec): { config: Config; own(name: string): string | boolean | undefined } | undefined {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(commandUsage(c));
    return undefined;
  }
  const specs = { ...CACHE_FLAGS, ...c.flags };
  const parsed = parseFlags(argv, specs);
  if (parsed._.length > 0) throw new UsageError(`${c.name}: unexpected argument ${JSON.stringify(parsed._[0])}`);
  return buildCommandConfig(parsed, c.flags);
}
