/** How stats read: plain tables for people, one JSON object for scripts. */
import { KINDS } from "../remote/format/layout.ts";
import { formatBytes, formatDuration } from "../units.ts";
import type { Stats } from "./stats.ts";
import { table } from "./table.ts";

export function statsText(s: Stats, now = Date.now()): string {
  const when = (ms?: number) => (ms === undefined ? "-" : `${new Date(ms).toISOString().replace(/\.\d+Z$/, "Z")} (${formatDuration(now - ms)} ago)`);
  const out: string[] = [];
  out.push(`Local cache ${s.cacheDir}\n`);
  const local: (string | number)[][] = [
    ["entries", s.local.entries], ["objects", s.local.objects], ["bytes", formatBytes(s.local.bytes)],
    ["oldest use", when(s.local.oldestUseMs)], ["newest use", when(s.local.newestUseMs)],
    ["trim would remove", s.trim ? `${s.trim.removedObjects} objects, ${formatBytes(s.trim.removedBytes)}` : "nothing (no --expiry or --max-size)"],
    ["pending uploads", s.pending.uploads === 0 ? "none" : `${s.pending.uploads} (${formatBytes(s.pending.bytes)}) in ${s.pending.journals} journals`],
  ];
  out.push(table(["", "value"], local));
  out.push(s.sessions.length === 0 ? "\nNo sessions recorded yet\n" : `\nLast ${s.sessions.length} sessions\n`);
  const t = s.totals;
  const rows = s.sessions.map((x) => [new Date(x.end).toISOString().replace(/\.\d+Z$/, "Z"), formatDuration(x.ms), x.gets, x.hits, x.misses, x.puts, formatBytes(x.bytesOut)]);
  out.push(table(["ended", "took", "gets", "hits", "misses", "puts", "hit bytes"], rows));
  out.push(`hits ${(t.hitRate * 100).toFixed(1)}% of ${t.gets} gets; time saved by hits, estimated from the actions these sessions ran: ${formatDuration(t.estimatedSavedMs)}\n`);
  if (s.bucket) {
    const b = s.bucket;
    out.push(`\nBucket ${b.name}${b.prefix ? ` prefix ${b.prefix}` : ""}\n`);
    const krows = KINDS.map((k) => [k, b.kinds[k].objects, formatBytes(b.kinds[k].bytes)]);
    krows.push(["total", KINDS.reduce((n, k) => n + b.kinds[k].objects, 0), formatBytes(KINDS.reduce((n, k) => n + b.kinds[k].bytes, 0))]);
    out.push(table(["kind", "objects", "bytes"], krows));
  }
  return out.join("");
}

export function statsJson(s: Stats): string {
  return `${JSON.stringify(s)}\n`;
}
