/**
 * The trace of use a runner leaves in the bucket, for `gc`: object stores
 * keep no access time, so a session's manifest (every entry it used, local
 * hits included) is its trace, and its modification time says when those
 * entries were last used. A session whose manifest already exists has it
 * rewritten when it is older than the use interval, so the trace of an entry
 * used at time t is never older than t minus the interval.
 *
 * Cost: a warm build checks one local marker (one stat, after the close
 * reply); only once per interval per distinct build does it start the
 * worker, which asks the bucket for the manifest's age (HEAD) and rewrites
 * it only when stale (no pack: that stays under the same hash). The marker
 * takes the time of the bucket's copy (not of the check), so the bucket's
 * trace of an entry used at t is never older than t minus the interval.
 */
import { closeSync, constants, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Mapping } from "../store/store.ts";

/** Markers kept per cache directory: beyond this, the oldest go (the worst case is one early refresh). */
const MARKS_MAX = 4096;

/**
 * What a local marker is named by: an order-independent fingerprint of a
 * session's entries (the sum of a 64-bit hash of each mapping, and their
 * count), cheap enough to keep up to date at every get (ledger.ts). Only
 * this directory reads it; a collision costs one missed refresh.
 */
export const entryHash = (actionId: string, outputId: string): bigint => BigInt(Bun.hash(actionId + outputId));
export const traceName = (sum: bigint, count: number): string => `${BigInt.asUintN(64, sum).toString(16).padStart(16, "0")}-${count}`;
export function traceId(entries: Iterable<Mapping>): string {
  let sum = 0n, n = 0;
  for (const e of entries) { sum += entryHash(e.actionId, e.outputId); n++; }
  return traceName(sum, n);
}

export class UseMarks {
  constructor(private readonly dir: string, readonly intervalMs: number, private readonly max = MARKS_MAX) {}

  /** True when the bucket's copy of the trace `id`, as last seen here, may be older than the interval. */
  due(id: string, now = Date.now()): boolean {
    const st = lstatSync(join(this.dir, id), { throwIfNoEntry: false });
    return !st || now - st.mtimeMs >= this.intervalMs;
  }

  /** Notes the time of the bucket's copy of trace `id`; never throws (a lost marker costs one early refresh). Links are never followed. */
  mark(id: string, now = Date.now()): void {
    const path = join(this.dir, id);
    const t = new Date(now);
    try {
      lutimesSync(path, t, t);
      return;
    } catch { /* a new marker */ }
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o600));
      lutimesSync(path, t, t);
      this.bound();
    } catch { /* see above */ }
  }

  private bound(): void {
    const names = readdirSync(this.dir);
    if (names.length <= this.max) return;
    const aged = names.map((n) => ({ n, t: lstatSync(join(this.dir, n), { throwIfNoEntry: false })?.mtimeMs ?? 0 })).sort((a, b) => a.t - b.t);
    for (const { n } of aged.slice(0, names.length - this.max)) try { unlinkSync(join(this.dir, n)); } catch { /* gone */ }
  }
}
