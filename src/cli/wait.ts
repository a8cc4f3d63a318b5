/** `wait`: the last step of an ephemeral CI job. Parses, wires, reports. */
import { durationFlag } from "../config.ts";
import { createLogger } from "../log.ts";
import { prepareCacheDir } from "../store/cache-dir.ts";
import { describeRows, waitForUploads } from "../lifecycle/wait.ts";
import { formatDuration } from "../units.ts";
import { parseCommand, type CommandSpec } from "./command.ts";

export const WAIT: CommandSpec = {
  name: "wait",
  summary: `returns when every upload pending for the cache directory is in the bucket.
Direct mode answers the go command's close and keeps uploading afterwards; on an
ephemeral runner run this as the job's last step, with the same cache and bucket
flags (or GOCACHE_* variables) as the build, so nothing is lost when the machine
goes. Uploads of processes still running are waited for; those left by processes
that are gone are uploaded here. Exits 0 when nothing is pending, 1 naming what
is left when the timeout passes (it stays journaled for the next run).`,
  usage: "go-cache-plugin wait [--timeout 10m] [cache and bucket flags]",
  flags: {
    timeout: { kind: "string", env: "GOCACHE_WAIT_TIMEOUT", hint: "DURATION", help: "Give up after this long (default 10m)" },
  },
};

export async function runWait(argv: string[]): Promise<number> {
  const cmd = parseCommand(argv, WAIT);
  if (!cmd) return 0;
  const timeoutMs = durationFlag("timeout", cmd.own("timeout"), 10 * 60_000);
  prepareCacheDir(cmd.config.cacheDir, { shared: cmd.config.cacheDirShared });
  const log = createLogger({ verbose: cmd.config.verbose, debug: false });
  const started = performance.now();
  const out = await waitForUploads({ config: cmd.config, timeoutMs, log });
  const took = formatDuration(performance.now() - started);
  if (out.done) {
    log.warn(out.startedWith === 0 ? "no uploads pending" : `all uploads done (${out.startedWith} were pending; ${took})`);
    return 0;
  }
  const why = cmd.config.bucket === undefined ? " (uploads left by processes that are gone need the bucket flags)" : cmd.config.readOnly ? " (--read-only: nothing is uploaded)" : "";
  log.warn(`wait: ${describeRows(out.left)}, still pending after ${took}${why}; kept in the journal for the next run:`);
  for (const r of out.left) log.warn(`  ${r.name}: ${r.pending} uploads, ${r.owner === "live" ? "its writer is running" : "its writer is gone"}`);
  return 1;
}
