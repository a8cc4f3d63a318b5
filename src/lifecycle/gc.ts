/**
 * `gc`: deletes from the bucket what no runner used within a window (and,
 * with a size bound, the least recently used until it fits). The decision is
 * plan.ts's; this file reads the bucket, asks it, and deletes in its order.
 *
 * Safe while builds run: nothing newer than the cutoff goes; records go
 * before outputs; and just before outputs are deleted the records and
 * manifests are listed again, so an output that a record written meanwhile
 * names is kept. A racing build sees misses, never a wrong output.
 */
import type { BlobStore } from "../blob/port.ts";
import { KINDS, idOfKey, kindBase, type CacheBucket, type Kind } from "../remote/format/bucket.ts";
import type { Mapping } from "../store/store.ts";
import { describeError } from "../log.ts";
import { cutoffForSize, plan, type BucketObject, type PlanInput, type Snapshot } from "./plan.ts";
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
  /** Outputs spared because a record or manifest written during gc names them. */
  spared: number;
  errors: string[];
  /** With dryRun: every key that would be deleted, in deletion order. */
  keys?: string[];
}

export async function collectGarbage(o: GcOptions): Promise<GcReport> {
  const now = o.now ?? Date.now();
  const limit = o.concurrency ?? 16;
  const progress: GcProgress = { phase: "scan", scanned: 0, deleted: 0, freedBytes: 0 };
  const tick = () => o.progress?.({ ...progress });
  const snapshot = await scan(o, () => { progress.scanned++; if (progress.scanned % 500 === 0) tick(); });
  progress.phase = "read";
  tick();
  const ageCutoff = now - o.olderThanMs - o.useIntervalMs;
  const base: Omit<PlanInput, "cutoffMs"> = { snapshot, ...(await readTraces(o, snapshot, ageCutoff, limit)) };
  let cutoffMs = ageCutoff, maxSizeReached: boolean | undefined;
  if (o.maxSizeBytes !== undefined) {
    const c = cutoffForSize(base, o.maxSizeBytes, ageCutoff, now - o.useIntervalMs);
    maxSizeReached = c !== undefined;
    cutoffMs = c ?? now - o.useIntervalMs;
  }
  const p = plan({ ...base, cutoffMs });
  const kinds = Object.fromEntries(KINDS.map((k) => [k, { scanned: snapshot[k].length, scannedBytes: snapshot[k].reduce((n, x) => n + x.size, 0), deleted: 0, deletedBytes: 0 }])) as Record<Kind, KindReport>;
  const report: GcReport = { dryRun: o.dryRun, cutoffMs, maxSizeReached, kinds, spared: 0, errors: [] };
  const count = (kind: Kind, x: BucketObject) => { kinds[kind].deleted++; kinds[kind].deletedBytes += x.size; progress.deleted++; progress.freedBytes += x.size; };
  if (o.dryRun) {
    for (const d of p.delete) count(d.kind, d.object);
    report.keys = p.delete.map((d) => d.object.key);
    return report;
  }
  progress.phase = "delete";
  const isOutput = (k: Kind) => k === "output" || k === "zoutput";
  const remove = (list: typeof p.delete) => mapLimit(list, limit, async (d) => {
    try {
      await o.blobs.delete(d.object.key);
      count(d.kind, d.object);
    } catch (err) {
      if (report.errors.length < 20) report.errors.push(`[gc] delete ${d.object.key}: ${describeError(err)}`);
      else report.errors.length === 20 && report.errors.push("[gc] (more delete errors not shown)");
    }
    if (progress.deleted % 200 === 0) tick();
  });
  await remove(p.delete.filter((d) => !isOutput(d.kind)));
  // A record that could not be deleted may name an output below: leave every output for the next run.
  if (report.errors.length > 0) return report;
  const named = await outputsNamedSince(o, snapshot, limit);
  const outputs = p.delete.filter((d) => isOutput(d.kind));
  report.spared = outputs.filter((d) => named.has(d.object.id)).length;
  await remove(outputs.filter((d) => !named.has(d.object.id)));
  tick();
  return report;
}

/** Every object of the known kinds under the prefix (other keys are never touched). */
async function scan(o: GcOptions, onObject: () => void): Promise<Snapshot> {
  const snapshot = Object.fromEntries(KINDS.map((k) => [k, [] as BucketObject[]])) as Snapshot;
  for (const kind of KINDS) {
    const base = kindBase(o.prefix, kind);
    for await (const info of o.blobs.list(base)) {
      const id = idOfKey(base, kind, info.key);
      if (id) snapshot[kind].push({ key: info.key, id, size: info.size, modifiedMs: info.modifiedMs });
      onObject();
    }
  }
  return snapshot;
}

/**
 * The entries of manifests newer than `cutoff`, and the outputs of newer
 * records that no such manifest lists. A manifest that cannot be read stops
 * gc: what it lists is unknown, so nothing could be deleted safely.
 */
async function readTraces(o: GcOptions, s: Snapshot, cutoff: number, limit: number): Promise<{ manifests: Map<string, Mapping[]>; recordOutputs: Map<string, string[]> }> {
  const manifests = new Map<string, Mapping[]>();
  await mapLimit(s.manifest.filter((m) => m.modifiedMs >= cutoff), limit, async (m) => {
    let entries: Mapping[] | undefined;
    try {
      entries = await o.bucket.getManifest(m.key);
    } catch (err) {
      throw new Error(`[gc] read manifest ${m.key}: nothing deleted (delete that object if it is not a manifest of this tool)`, { cause: err });
    }
    if (entries) manifests.set(m.id, entries);
  });
  const listed = new Set<string>();
  for (const list of manifests.values()) for (const e of list) listed.add(e.actionId);
  const recordOutputs = await readRecords(o, [...s.ax, ...s.action].filter((r) => r.modifiedMs >= cutoff && !listed.has(r.id)), limit);
  return { manifests, recordOutputs };
}

/**
 * Action ID -> the output IDs its records (ax and action: they may differ,
 * each written by another tool) name; unreadable or malformed records name
 * nothing. Signatures are not checked: keeping more is the safe side.
 */
async function readRecords(o: GcOptions, records: BucketObject[], limit: number): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const ids = [...new Set(records.map((r) => r.id))];
  await mapLimit(ids, limit, async (id) => {
    const [ax, action] = await Promise.all([o.bucket.readAx(id).catch(() => undefined), o.bucket.getAction(id).catch(() => undefined)]);
    const named = [ax?.outputId, action?.outputId].filter((x): x is string => x !== undefined);
    if (named.length) out.set(id, named);
  });
  return out;
}

/** Outputs named by records and manifests written or replaced since the scan (a build racing gc). */
async function outputsNamedSince(o: GcOptions, before: Snapshot, limit: number): Promise<Set<string>> {
  const again = await scan({ ...o, prefix: o.prefix }, () => {});
  const seen = (kind: Kind) => new Map(before[kind].map((x) => [x.key, x.modifiedMs]));
  const changed = (kind: Kind) => { const old = seen(kind); return again[kind].filter((x) => old.get(x.key) !== x.modifiedMs); };
  const named = new Set<string>([...(await readRecords(o, [...changed("ax"), ...changed("action")], limit)).values()].flat());
  await mapLimit(changed("manifest"), limit, async (m) => {
    for (const e of (await o.bucket.getManifest(m.key).catch(() => undefined)) ?? []) named.add(e.outputId);
  });
  return named;
}
