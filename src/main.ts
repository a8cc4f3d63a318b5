/**
 * Entry point: picks the subcommand and nothing else. Direct mode (no
 * subcommand) is the hot path, spawned by every go command, so the other
 * subcommands are loaded only when named.
 */
import { UsageError } from "./config.ts";
import { describeError } from "./log.ts";

async function main(argv: string[]): Promise<number> {
  switch (argv[0]) {
    case "help":
      return (await import("./cli/help.ts")).runHelp(argv.slice(1));
    case "serve":
      return (await import("./cli/serve.ts")).runServe(argv.slice(1));
    case "connect":
      return (await import("./cli/connect.ts")).runConnect(argv.slice(1));
    case "version":
    case "--version":
      return (await import("./cli/help.ts")).runVersion();
    default:
      return (await import("./cli/direct.ts")).runDirect(argv);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`go-cache-plugin: ${err.message}\nRun 'go-cache-plugin --help' for usage.\n`);
      process.exit(2);
    }
    process.stderr.write(`go-cache-plugin: ${describeError(err)}\n`);
    process.exit(1);
  },
);
