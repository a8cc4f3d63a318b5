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
 */
import type { Kind } from "../remote/format/layout.ts";

export interface BucketObject { key: string; id: string; size: number; modifiedMs: number }
export type Snapshot = Record<Kind, BucketObject[]>;

/** The newest modification time of a manifest listing each action, and each output. */
export interface Uses { actions: Map<string, number>; outputs: Map<string, number> }

export interface PlanInput {
  snapshot: Snapshot;
  uses: Uses;
  /** Output IDs named by records (ax and action) that were read (see traces.ts). */
  recordOutputs: Map<string, string[]>;
  cutoffMs: number;
}

export interface Plan {
  /** By kind, in the order deletion goes (the caller rescans between phases: see gc.ts). */
  delete: { kind: Kind; object: BucketObject }[];
  keptBytes: number;
  deletedBytes: number;
}

export const DELETE_ORDER: Kind[] = ["manifest", "pack", "manifest-index", "ax", "action", "output", "zoutput"];

export function plan(i: PlanInput): Plan {
  const s = i.snapshot, c = i.cutoffMs, fresh = (o: BucketObject) => o.modifiedMs >= c;
  const used = (m: Map<string, number>, id: string) => (m.get(id) ?? -Infinity) >= c;
  const liveActions = new Set<string>();
  const namedOutputs = new Set<string>();
  for (const r of [...s.ax, ...s.action]) {
    if (!fresh(r) && !used(i.uses.actions, r.id)) continue;
    liveActions.add(r.id);
    for (const out of i.recordOutputs.get(r.id) ?? []) namedOutputs.add(out);
  }
  const liveManifests = new Set(s.manifest.filter(fresh).map((m) => m.id));
  const keepAction = (o: BucketObject) => liveActions.has(o.id) || used(i.uses.actions, o.id);
  const keepOutput = (o: BucketObject) => fresh(o) || used(i.uses.outputs, o.id) || namedOutputs.has(o.id);
  const keeps: Record<Kind, (o: BucketObject) => boolean> = {
    ax: keepAction,
    action: keepAction,
    "manifest-index": (o) => fresh(o) || keepAction(o),
    manifest: (o) => liveManifests.has(o.id),
    pack: (o) => fresh(o) || liveManifests.has(o.id),
    output: keepOutput,
    zoutput: keepOutput,
  };
  const out: Plan = { delete: [], keptBytes: 0, deletedBytes: 0 };
  for (const kind of DELETE_ORDER) {
    for (const o of s[kind]) {
      if (keeps[kind](o)) out.keptBytes += o.size;
      else { out.delete.push({ kind, object: o }); out.deletedBytes += o.size; }
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
