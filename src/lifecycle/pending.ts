/**
 * Uploads pending for a cache directory, as its journals say
 * (remote/journal.ts): one row per journal that still promises uploads.
 * Read-only: nothing is claimed or changed here.
 */
import { lstatSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { JOURNAL_READ_MAX, journalOwner, parseJournal } from "../remote/journal.ts";

export interface PendingJournal {
  /** File name in the journal directory. */
  name: string;
  /** Uploads it promises and has not marked done. */
  pending: number;
  /** "live": its writer may still upload them; "orphan": its writer is gone (wait uploads them). */
  owner: "live" | "orphan";
  /** Bytes of output those uploads carry. */
  bytes: number;
}

/** Journals with pending uploads, in name order; journals that vanish meanwhile are skipped. */
export function pendingJournals(journalDir: string, now = Date.now()): PendingJournal[] {
  let names: string[];
  try { names = readdirSync(journalDir).sort(); } catch { return []; }
  const rows: PendingJournal[] = [];
  for (const name of names) {
    const path = join(journalDir, name);
    const owner = journalOwner(name, path, now);
    if (!owner) continue;
    let text: string;
    try {
      // Too large to read: counted as one pending upload (what it holds is unknown).
      if (lstatSync(path).size > JOURNAL_READ_MAX) { rows.push({ name, pending: 1, owner, bytes: 0 }); continue; }
      text = readFileSync(path, "latin1");
    } catch { continue; }
    const { jobs } = parseJournal(text);
    if (jobs.length > 0) rows.push({ name, pending: jobs.length, owner, bytes: jobs.reduce((n, j) => n + j.size, 0) });
  }
  return rows;
}

export function totalPending(rows: PendingJournal[]): number {
  return rows.reduce((n, r) => n + r.pending, 0);
}
