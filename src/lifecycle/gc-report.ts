/** How gc's outcome reads: a table for people, one JSON object for scripts. */
import { KINDS } from "../remote/format/layout.ts";
import { formatBytes } from "../units.ts";
import type { GcProgress, GcReport } from "./gc.ts";
import { table } from "./table.ts";

export function gcTable(r: GcReport): string {
  const verb = r.dryRun ? "would delete" : "deleted";
  const rows = KINDS.map((k) => {
    const x = r.kinds[k];
    return [k, x.scanned, formatBytes(x.scannedBytes), x.deleted, formatBytes(x.deletedBytes), x.scanned - x.deleted, formatBytes(x.scannedBytes - x.deletedBytes)];
  });
  const sum = (f: (x: GcReport["kinds"][keyof GcReport["kinds"]]) => number) => KINDS.reduce((n, k) => n + f(r.kinds[k]), 0);
  rows.push(["total", sum((x) => x.scanned), formatBytes(sum((x) => x.scannedBytes)), sum((x) => x.deleted), formatBytes(sum((x) => x.deletedBytes)), sum((x) => x.scanned - x.deleted), formatBytes(sum((x) => x.scannedBytes - x.deletedBytes))]);
  const notes = [`objects last used before ${new Date(r.cutoffMs).toISOString()} ${r.dryRun ? "would go" : "went"}`];
  if (r.maxSizeReached === false) notes.push("--max-size not reached: what is left was used within the last --use-interval, which gc never deletes for size");
  if (r.spared > 0) notes.push(`${r.spared} objects kept because a build used or wrote them while gc ran`);
  for (const e of r.errors) notes.push(e);
  return table(["kind", "objects", "bytes", verb, `bytes ${r.dryRun ? "to free" : "freed"}`, "kept", "bytes kept"], rows) + notes.map((n) => `${n}\n`).join("");
}

export function gcJson(r: GcReport): string {
  return `${JSON.stringify({ ...r, cutoff: new Date(r.cutoffMs).toISOString() })}\n`;
}

/** One status line, rewritten in place on a terminal. */
export function gcProgressLine(p: GcProgress): string {
  const what = p.phase === "scan" ? "listing" : p.phase === "read" ? "reading manifests" : "deleting";
  return `\rgc: ${what}: ${p.scanned} objects scanned, ${p.deleted} deleted, ${formatBytes(p.freedBytes)} freed\x1b[K`;
}
