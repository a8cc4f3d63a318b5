/** `stats`: numbers a person can read. Parses, wires, prints. */
import { gatherStats } from "../lifecycle/stats.ts";
import { statsJson, statsText } from "../lifecycle/stats-report.ts";
import { openBucket } from "./bucket.ts";
import { parseCommand, type CommandSpec } from "./command.ts";

export const STATS: CommandSpec = {
  name: "stats",
  summary: `what the cache holds and what it did: the local cache (entries,
bytes, oldest and newest use, what trim with the given --expiry/--max-size
would remove), the last sessions' hits and misses and the time hits saved
(estimated from how long the actions those sessions ran took), pending
uploads; with --bucket, objects and bytes by kind under --prefix.`,
  usage: "go-cache-plugin stats [--json] [--cache-dir DIR] [--bucket URL [bucket flags]]",
  flags: {
    json: { kind: "boolean", help: "Print everything as one JSON object" },
  },
  cacheFlags: ["cache-dir", "bucket", "region", "s3-endpoint-url", "s3-path-style", "prefix", "expiry", "max-size"],
};

export async function runStats(argv: string[]): Promise<number> {
  const cmd = parseCommand(argv, STATS);
  if (!cmd) return 0;
  const opened = cmd.config.bucket ? await openBucket(cmd.config, "stats") : undefined;
  try {
    const stats = await gatherStats(cmd.config, opened?.blobs);
    process.stdout.write(cmd.own("json") === true ? statsJson(stats) : statsText(stats));
    return 0;
  } finally {
    opened?.blobs.close();
  }
}
