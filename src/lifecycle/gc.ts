/**
 * `gc`: deletes from the bucket what no runner used within a window (and,
 * with a size bound, the least recently used until it fits). The decision is
 * plan.ts's; this file reads the bucket (traces.ts), asks it, and deletes.
 *
 * Safe while builds run: nothing newer than the cutoff goes, and deletion
 * goes in three phases (manifests, packs and index entries; records;
 * outputs). Before each phase the bucket is listed again, what changed
 * meanwhile (a manifest refreshed, a record written) is read and the plan
 * made again, so an entry a racing build used, and an output a record
 * written meanwhile names, stay; a manifest is also checked (HEAD) right
 * before it is deleted. A race within one phase can still cost a miss,
 * never a wrong output.
 */
import type { BlobStore } from "../blob/port.ts";
import { KINDS, type CacheBucket, type Kind } from "../remote/format/bucket.ts";
import { describeError } from "../log.ts";
import { cutoffForSize, plan, type BucketObject } from "./plan.ts";
import { scan, Traces } from "./traces.ts";
import { mapLimit } from "./limit.ts";

export interface GcOptions {
  blobs: BlobStore;
  bucket: CacheBucket;
  prefix: string;
  olderThanMs: number;
  /** The runners' --use-interval: a trace may be this much older than the use it records. */
  useIntervalMs: number;
  maxSizeBytes?: number;
  dryRun: boolean;
  now?: number;
  concurrency?: number;
  progress?: (p: GcProgress) => void;
}

export interface GcProgress { phase: "scan" | "read" | "delete"; scanned: number; deleted: number; freedBytes: number }
export interface KindReport { scanned: number; scannedBytes: number; deleted: number; deletedBytes: number }

export interface GcReport {
  dryRun: boolean;
  /** Objects last used before this (Unix ms) were deleted. */
  cutoffMs: number;
  /** --max-size was given and the bucket is (or would be) within it. */
  maxSizeReached?: boolean;
  kinds: Record<Kind, KindReport>;
  /** Objects spared because a build used or wrote them while gc ran. */
  spared: number;
  errors: string[];
  /** With dryRun: every key that would be deleted, in deletion order. */
  keys?: string[];
}

/** Manifests first (each checked before it goes); what belongs to them and records once the bucket was listed again; outputs last. */
const PHASES: Kind[][] = [["manifest"], ["pack", "manifest-index", "ax", "action"], ["output", "zoutput"]];

export async function collectGarbage(o: GcOptions): Promise<GcReport> {
  const now = o.now ?? Date.now();
  const limit = o.concurrency ?? 16;
  const progress: GcProgress = { phase: "scan", scanned: 0, deleted: 0, freedBytes: 0 };
  const tick = () => o.progress?.({ ...progress });
  let snapshot = await scan(o.blobs, o.prefix, () => { if (++progress.scanned % 500 === 0) tick(); });
  progress.phase = "read";
  tick();
  const ageCutoff = now - o.olderThanMs - o.useIntervalMs;
  const traces = new Traces(o.bucket, limit);
  await traces.readManifests(snapshot.manifest.filter((m) => m.modifiedMs >= ageCutoff));
  // Every record that may be kept is read: a manifest's entry (a local hit) may name another output than the record does.
  await traces.readRecords([...snapshot.ax, ...snapshot.action].filter((r) => r.modifiedMs >= ageCutoff || (traces.uses.actions.get(r.id) ?? -Infinity) >= ageCutoff));
  const input = () => ({ snapshot, uses: traces.uses, recordOutputs: traces.recordOutputs });
  let cutoffMs = ageCutoff, maxSizeReached: boolean | undefined;
  if (o.maxSizeBytes !== undefined) {
    const c = cutoffForSize(input(), o.maxSizeBytes, ageCutoff, now - o.useIntervalMs);
    maxSizeReached = c !== undefined;
    cutoffMs = c ?? now - o.useIntervalMs;
  }
  const kinds = Object.fromEntries(KINDS.map((k) => [k, { scanned: snapshot[k].length, scannedBytes: snapshot[k].reduce((n, x) => n + x.size, 0), deleted: 0, deletedBytes: 0 }])) as Record<Kind, KindReport>;
  const report: GcReport = { dryRun: o.dryRun, cutoffMs, maxSizeReached, kinds, spared: 0, errors: [] };
  const count = (kind: Kind, x: BucketObject) => { kinds[kind].deleted++; kinds[kind].deletedBytes += x.size; progress.deleted++; progress.freedBytes += x.size; };
  const first = plan({ ...input(), cutoffMs });
  if (o.dryRun) {
    // As a real run would: no outputs while some record could not be read.
    const would = traces.failures.length > 0 ? first.delete.filter((d) => !PHASES[2]!.includes(d.kind)) : first.delete;
    for (const d of would) count(d.kind, d.object);
    report.keys = would.map((d) => d.object.key);
    report.errors.push(...traces.failures);
    return report;
  }
  progress.phase = "delete";
  for (const phase of PHASES) {
    if (phase !== PHASES[0]) {
      const again = await scan(o.blobs, o.prefix);
      await traces.readChanged(snapshot, again);
      snapshot = again;
    }
    // Checked after the last reads: an output a record names may go only when every record could be read.
    if (phase.includes("output") && (report.errors.length > 0 || traces.failures.length > 0)) {
      report.errors.push(...traces.failures, "[gc] outputs were not deleted: some records could not be read or deleted (run gc again)");
      break;
    }
    const todo = plan({ ...input(), cutoffMs }).delete.filter((d) => phase.includes(d.kind));
    const still = new Set(todo.map((d) => d.object.key));
    report.spared += first.delete.filter((d) => phase.includes(d.kind) && !still.has(d.object.key)).length;
    await mapLimit(todo, limit, async (d) => {
      try {
        // A refreshed manifest keeps what it lists: never delete one that changed since it was listed.
        if (d.kind === "manifest") {
          const now = await o.blobs.head(d.object.key);
          if (!now) return; // gone already
          if (now.modifiedMs !== d.object.modifiedMs) { report.spared++; return; }
        }
        await o.blobs.delete(d.object.key);
        count(d.kind, d.object);
      } catch (err) {
        if (report.errors.length < 20) report.errors.push(`[gc] delete ${d.object.key}: ${describeError(err)}`);
      }
      if (progress.deleted % 200 === 0) tick();
    });
  }
  tick();
  return report;
}

