/** `gc`: keeps the bucket bounded by last use. Parses, wires, prints. */
import { UsageError, bytesFlag, durationFlag } from "../config.ts";
import { collectGarbage } from "../lifecycle/gc.ts";
import { gcJson, gcProgressLine, gcTable } from "../lifecycle/gc-report.ts";
import { openBucket } from "./bucket.ts";
import { parseCommand, type CommandSpec } from "./command.ts";

export const GC: CommandSpec = {
  name: "gc",
  summary: `deletes from the bucket what no build used within --older-than:
records, outputs, manifests, packs and index entries, ours and the compatible
action/ and output/ objects, under --prefix only. "Used" is any get of any go
command (a local hit too): builds leave a trace in the bucket at most once per
--use-interval (give gc the same value as the builds). An entry used within
--older-than is never deleted; one unused for --older-than plus --use-interval
always is. With --max-size, the least recently used go next until the bucket
fits (never what was used within the last --use-interval). Safe while builds
run: they may see misses, never a wrong output. Entries written by
tailscale/go-cache-plugin alone carry no trace: they go --older-than after
they were written.`,
  usage: "go-cache-plugin gc --older-than 720h [--max-size 500GiB] [--dry-run] [--json] --bucket URL [bucket flags]",
  flags: {
    "older-than": { kind: "string", hint: "DURATION", help: "Delete what no build used for this long (required; e.g. 720h or 30d)" },
    "max-size": { kind: "string", hint: "BYTES", help: "Then delete the least recently used until the prefix holds at most this much (e.g. 500GiB)" },
    "dry-run": { kind: "boolean", help: "List what would be deleted (one key per line) and delete nothing" },
    json: { kind: "boolean", help: "Print the summary as one JSON object" },
  },
  cacheFlags: ["bucket", "region", "s3-endpoint-url", "s3-path-style", "prefix", "use-interval"],
};

export async function runGc(argv: string[]): Promise<number> {
  const cmd = parseCommand(argv, GC);
  if (!cmd) return 0;
  const { config } = cmd;
  const olderRaw = cmd.own("older-than");
  if (olderRaw === undefined) throw new UsageError("gc needs --older-than DURATION (e.g. 720h)");
  const olderThanMs = durationFlag("older-than", olderRaw, 0);
  if (olderThanMs <= 0) throw new UsageError("--older-than: must be more than 0");
  const maxSizeBytes = bytesFlag("max-size", cmd.own("max-size"));
  const dryRun = cmd.own("dry-run") === true, json = cmd.own("json") === true;
  const { blobs, bucket } = await openBucket(config, "gc");
  try {
    const tty = process.stderr.isTTY && !json;
    const report = await collectGarbage({
      blobs, bucket, prefix: config.prefix, olderThanMs, useIntervalMs: config.useIntervalMs, maxSizeBytes, dryRun,
      progress: tty ? (p) => void process.stderr.write(gcProgressLine(p)) : undefined,
    });
    if (tty) process.stderr.write("\n");
    if (json) process.stdout.write(gcJson(report));
    else {
      if (report.keys?.length) process.stdout.write(report.keys.map((k) => `${k}\n`).join(""));
      process.stdout.write(gcTable(report));
    }
    return report.errors.length > 0 ? 1 : 0;
  } finally {
    blobs.close();
  }
}
