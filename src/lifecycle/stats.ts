/**
 * `stats`: what the cache holds and what it did. Local: entries, bytes, use
 * times and what trim (with the configured --expiry/--max-size) would
 * remove; the last sessions (store/session-log.ts); pending uploads; with a
 * bucket, objects and bytes by kind under the prefix. Reads only.
 */
import type { Config } from "../config.ts";
import type { BlobStore } from "../blob/port.ts";
import { KINDS, type Kind } from "../remote/format/layout.ts";
import { forEachObject } from "./traces.ts";
import { Layout } from "../store/layout.ts";
import { readSessionLog, type SessionSummary } from "../store/session-log.ts";
import { localInventory, trimStore, type LocalInventory, type TrimResult } from "../store/trim.ts";
import { pendingJournals, totalPending } from "./pending.ts";

/** Sessions shown and summed. */
export const RECENT_SESSIONS = 20;

export interface Stats {
  cacheDir: string;
  local: LocalInventory;
  /** With --expiry or --max-size: what the next trim would remove. */
  trim?: TrimResult;
  sessions: SessionSummary[];
  totals: { sessions: number; gets: number; hits: number; misses: number; puts: number; hitRate: number; estimatedSavedMs: number };
  pending: { uploads: number; bytes: number; journals: number };
  bucket?: { name: string; prefix: string; kinds: Record<Kind, { objects: number; bytes: number }> };
}

export async function gatherStats(config: Config, blobs?: BlobStore): Promise<Stats> {
  const layout = new Layout(config.cacheDir);
  const trimming = config.expiryMs > 0 || config.maxSizeBytes > 0;
  const sessions = readSessionLog(layout).slice(-RECENT_SESSIONS);
  const rows = pendingJournals(layout.journalDir);
  return {
    cacheDir: config.cacheDir,
    local: localInventory(layout),
    trim: trimming ? trimStore({ layout, expiryMs: config.expiryMs, maxSizeBytes: config.maxSizeBytes, dryRun: true }) : undefined,
    sessions,
    totals: totals(sessions),
    pending: { uploads: totalPending(rows), bytes: rows.reduce((n, r) => n + r.bytes, 0), journals: rows.length },
    bucket: blobs ? { name: blobs.name, prefix: config.prefix, kinds: await bucketKinds(blobs, config.prefix) } : undefined,
  };
}

/**
 * Sums, and the time hits saved, estimated: each hit as long as the
 * average action these sessions ran after a miss (0 when none ran one).
 */
export function totals(sessions: SessionSummary[]): Stats["totals"] {
  const sum = (f: keyof SessionSummary) => sessions.reduce((n, s) => n + s[f], 0);
  const built = sum("built"), perAction = built > 0 ? sum("buildMs") / built : 0;
  const gets = sum("gets"), hits = sum("hits");
  return { sessions: sessions.length, gets, hits, misses: sum("misses"), puts: sum("puts"), hitRate: gets > 0 ? hits / gets : 0, estimatedSavedMs: Math.round(hits * perAction) };
}

async function bucketKinds(blobs: BlobStore, prefix: string): Promise<Record<Kind, { objects: number; bytes: number }>> {
  const out = Object.fromEntries(KINDS.map((k) => [k, { objects: 0, bytes: 0 }])) as Record<Kind, { objects: number; bytes: number }>;
  await forEachObject(blobs, prefix, (kind, o) => { out[kind].objects++; out[kind].bytes += o.size; }); // counted as they are listed: nothing is kept
  return out;
}
