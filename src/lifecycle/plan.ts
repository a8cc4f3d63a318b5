/**
 * What gc deletes, decided from a snapshot of the bucket (no I/O here).
 *
 * An entry (an action and the output it maps to) is in use when its trace is
 * newer than the cutoff: a manifest listing it (its modification time is the
 * last use of its entries, remote/usage.ts), or its own record (ax/ or
 * action/, written when it was uploaded). Everything else under the prefix
 * is judged by what it belongs to:
 *   - records (ax/, action/) of actions not in use: deleted;
 *   - manifest-index/ entries of such actions, once older than the cutoff;
 *   - manifests older than the cutoff, and the packs of manifests that go;
 *   - outputs (output/, zoutput/) no entry in use maps to and not written
 *     since the cutoff (a record naming it may be on its way).
 * The caller deletes records first and outputs last, so that a reader never
 * finds a record whose output is gone because of gc before the record is.
 */
import type { Kind } from "../remote/format/layout.ts";
import type { Mapping } from "../store/store.ts";

export interface BucketObject { key: string; id: string; size: number; modifiedMs: number }
export type Snapshot = Record<Kind, BucketObject[]>;

export interface PlanInput {
  snapshot: Snapshot;
  /** Entries of the manifests newer than the cutoff, by manifest ID (hash). */
  manifests: Map<string, Mapping[]>;
  /** Output IDs named by records (ax and action) read because they are newer than the cutoff (their manifest may not be written yet). */
  recordOutputs: Map<string, string[]>;
  cutoffMs: number;
}

export interface Plan {
  /** In deletion order: records, index entries, manifests, packs, then outputs. */
  delete: { kind: Kind; object: BucketObject }[];
  keptBytes: number;
  deletedBytes: number;
}

export const DELETE_ORDER: Kind[] = ["ax", "action", "manifest-index", "manifest", "pack", "output", "zoutput"];

export function plan(i: PlanInput): Plan {
  const s = i.snapshot, fresh = (o: BucketObject) => o.modifiedMs >= i.cutoffMs;
  const liveActions = new Set<string>();
  const liveOutputs = new Set<string>();
  const liveManifests = new Set<string>();
  for (const m of s.manifest) {
    if (!fresh(m)) continue;
    liveManifests.add(m.id);
    for (const e of i.manifests.get(m.id) ?? []) { liveActions.add(e.actionId); liveOutputs.add(e.outputId); }
  }
  for (const r of [...s.ax, ...s.action]) {
    if (!fresh(r)) continue;
    liveActions.add(r.id);
    for (const out of i.recordOutputs.get(r.id) ?? []) liveOutputs.add(out);
  }
  const goes: Record<Kind, (o: BucketObject) => boolean> = {
    ax: (o) => !liveActions.has(o.id),
    action: (o) => !liveActions.has(o.id),
    "manifest-index": (o) => !fresh(o) && !liveActions.has(o.id),
    manifest: (o) => !liveManifests.has(o.id),
    pack: (o) => !fresh(o) && !liveManifests.has(o.id),
    output: (o) => !fresh(o) && !liveOutputs.has(o.id),
    zoutput: (o) => !fresh(o) && !liveOutputs.has(o.id),
  };
  const out: Plan = { delete: [], keptBytes: 0, deletedBytes: 0 };
  for (const kind of DELETE_ORDER) {
    for (const o of s[kind]) {
      if (goes[kind](o)) { out.delete.push({ kind, object: o }); out.deletedBytes += o.size; }
      else out.keptBytes += o.size;
    }
  }
  return out;
}

/**
 * The earliest cutoff at or after `from` (and at most `until`) whose plan
 * keeps at most `maxBytes`: least recently used first, one candidate per
 * distinct modification time. Undefined when even `until` keeps more.
 */
export function cutoffForSize(base: Omit<PlanInput, "cutoffMs">, maxBytes: number, from: number, until: number): number | undefined {
  const times = new Set<number>([from]);
  for (const list of Object.values(base.snapshot)) for (const o of list) if (o.modifiedMs > from && o.modifiedMs <= until) times.add(o.modifiedMs + 1);
  const sorted = [...times].sort((a, b) => a - b);
  const fits = (c: number) => plan({ ...base, cutoffMs: c }).keptBytes <= maxBytes;
  if (!fits(sorted.at(-1)!)) return fits(until) ? until : undefined;
  let lo = 0, hi = sorted.length - 1; // kept bytes only fall as the cutoff rises
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (fits(sorted[mid]!)) hi = mid; else lo = mid + 1;
  }
  return sorted[lo];
}
