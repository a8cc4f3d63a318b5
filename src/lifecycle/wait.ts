/**
 * `wait`: returns when no upload is pending for the cache directory. Uploads
 * of a live writer (a direct-mode process still uploading after its go
 * command returned, a server) are waited for; those journaled by writers
 * that are gone are claimed and uploaded here (remote/journal.ts), which
 * needs the bucket flags. Polls the journals, so a writer that dies while
 * we wait has its journal taken over on the next poll.
 */
import type { Config } from "../config.ts";
import { formatBytes } from "../units.ts";
import type { Logger } from "../log.ts";
import { LocalStore } from "../store/local.ts";
import type { TieredCache } from "../remote/tiered.ts";
import { pendingJournals, totalPending, type PendingJournal } from "./pending.ts";

const POLL_MS = 200;

export interface WaitOptions {
  config: Config;
  timeoutMs: number;
  log: Logger;
}

export interface WaitOutcome {
  /** True when nothing is pending any more. */
  done: boolean;
  /** What was pending when we started, and what is left. */
  startedWith: number;
  left: PendingJournal[];
}

export async function waitForUploads(o: WaitOptions): Promise<WaitOutcome> {
  const local = new LocalStore({ dir: o.config.cacheDir, fsync: o.config.fsync });
  const journalDir = local.layout.journalDir;
  const deadline = Date.now() + o.timeoutMs;
  const canUpload = o.config.bucket !== undefined && !o.config.readOnly;
  let tier: TieredCache | undefined;
  let rows = pendingJournals(journalDir);
  const startedWith = totalPending(rows);
  if (startedWith > 0) o.log.info(`waiting for ${describeRows(rows)}`);
  try {
    while (rows.length > 0) {
      if (rows.some((r) => r.owner === "orphan")) {
        // Nobody else will upload these: without the bucket, waiting cannot help.
        if (!canUpload && rows.every((r) => r.owner === "orphan")) return { done: false, startedWith, left: rows };
        if (canUpload) {
          tier ??= await openTier(o, local);
          tier.resumeOrphans();
        }
      }
      if (Date.now() >= deadline) return { done: false, startedWith, left: rows };
      await Bun.sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
      rows = pendingJournals(journalDir);
    }
    return { done: true, startedWith, left: [] };
  } finally {
    await tier?.close(); // what is left stays journaled (bounded by the short upload timeout given below)
  }
}

async function openTier(o: WaitOptions, local: LocalStore): Promise<TieredCache> {
  const { openRemoteTier } = await import("../remote/open.ts");
  return openRemoteTier({ ...o.config, local, blob: o.config.bucket!, log: o.log, uploadTimeoutMs: 500 });
}

/** "5 uploads (12.0 MiB): 3 by a running writer, 2 left by a writer that is gone". */
export function describeRows(rows: PendingJournal[]): string {
  const live = rows.filter((r) => r.owner === "live"), gone = rows.filter((r) => r.owner === "orphan");
  const parts: string[] = [];
  if (live.length) parts.push(`${totalPending(live)} by ${live.length === 1 ? "a running writer" : `${live.length} running writers`}`);
  if (gone.length) parts.push(`${totalPending(gone)} left by ${gone.length === 1 ? "a writer that is gone" : `${gone.length} writers that are gone`}`);
  return `${totalPending(rows)} uploads (${formatBytes(rows.reduce((n, r) => n + r.bytes, 0))}): ${parts.join(", ")}`;
}
