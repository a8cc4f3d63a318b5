/**
 * Entry point: picks the subcommand and nothing else. Direct mode (no
 * subcommand) is the hot path, spawned by every go command: its capability
 * message goes out before any other module is loaded (about 2 ms sooner);
 * flags are validated right after, and a bad one still ends the process
 * with a usage message and exit 2 (the go command then prints it).
 */
import { fstatSync, writeSync } from "node:fs";
import { CAPABILITY_LINE } from "./protocol/commands.ts";

async function main(argv: string[]): Promise<number> {
  switch (argv[0]) {
    case "help":
      return (await import("./cli/help.ts")).runHelp(argv.slice(1));
    case "version":
    case "--version":
      return (await import("./cli/help.ts")).runVersion();
    case "serve":
      return (await import("./cli/serve.ts")).runServe(argv.slice(1));
    case "connect":
      return (await import("./cli/connect.ts")).runConnect(argv.slice(1));
    case "keygen":
      return (await import("./cli/keygen.ts")).runKeygen(argv.slice(1));
    case "stats":
      return (await import("./cli/stats.ts")).runStats(argv.slice(1));
    case "gc":
      return (await import("./cli/gc.ts")).runGc(argv.slice(1));
    case "wait":
      return (await import("./cli/wait.ts")).runWait(argv.slice(1));
    default: {
      // Early only for the go command (a pipe); a person at a terminal sees just the error.
      const early = !argv.includes("--help") && !argv.includes("-h") && !fstatSync(1).isCharacterDevice();
      if (early) writeSync(1, CAPABILITY_LINE);
      return (await import("./cli/direct.ts")).runDirect(argv, { announced: early });
    }
  }
}

async function fail(err: unknown): Promise<never> {
  const { UsageError } = await import("./config.ts");
  const { describeError } = await import("./log.ts");
  if (err instanceof UsageError) {
    process.stderr.write(`go-cache-plugin: ${err.message}\nRun 'go-cache-plugin --help' for usage.\n`);
    process.exit(2);
  }
  process.stderr.write(`go-cache-plugin: ${describeError(err)}\n`);
  process.exit(1);
}

main(process.argv.slice(2)).then((code) => process.exit(code), fail);
