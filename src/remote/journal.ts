/**
 * The upload journal: uploads that were promised (the put was answered) but
 * have not reached the bucket yet.
 *
 *   v1/journal/<writer>.log    one file per process (writer: identity.ts), append-only lines:
 *     put <action id> <output id> <size> <unix nanos>
 *     done <action id>
 *
 * Durability: a line is written (write(2); with --fsync also fsync(2)) before
 * the put is answered, so it survives the process being killed; without
 * --fsync a power loss may lose the tail (the next build uploads again).
 *
 * Orphans. A journal belongs to a live process while its writer runs (same
 * PID space, PID alive) or, where that cannot be known (another container
 * or host), while its mtime is fresh: owners touch it every HEARTBEAT_MS,
 * and one untouched for STALE_MS is an orphan. A process claims an orphan
 * by renaming it to a name of its own (so only one wins, and a claimer that
 * dies leaves a journal that is itself an orphan, never a stray file),
 * copies its pending entries into its own journal and removes it. An owner
 * whose journal was claimed from under it (it was stopped for a long time)
 * writes its pending entries to a new one. A line that is not exactly one
 * of the two forms (hex IDs of 64 digits, bounded numbers) is skipped.
 *
 * A journal that cannot be written (full disk, read-only directory) loses
 * nothing local: the job is still uploaded by this process, `add` says it is
 * not durable and the owner reports it.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, utimesSync } from "node:fs";
import { join } from "node:path";
import type { Mapping } from "../store/store.ts";
import { parseWriter, uniqueTag, writerGone, writerId } from "../store/identity.ts";
import { writeFully } from "../store/local.ts";

export const HEARTBEAT_MS = 30_000;
export const STALE_MS = 10 * HEARTBEAT_MS;
/** A journal larger than this is not read, adopted or counted (about a million pending lines). */
export const JOURNAL_READ_MAX = 256 << 20;
const LINE = /^(?:put ([0-9a-f]{64}) ([0-9a-f]{64}) (\d{1,15}) (\d{1,20})|done ([0-9a-f]{64}))$/;
/** Journals of the version before writer identities: "<pid>-<random>.log", and their claims. */
const LEGACY = /^\d+-[a-z0-9]+\.log(\.claim-\d+)?$/;

export class Journal {
  path: string;
  private fd = -1;
  private ino = -1;
  private readonly pending = new Map<string, Mapping>();
  private readonly notKept = new Set<string>();
  private heartbeat: Timer | undefined;
  /** The last append may have left part of a line. */
  private torn = false;
  /** The last write failure, when a job could not be journaled. */
  lastError: unknown;

  constructor(readonly dir: string, private readonly opts: { fsync?: boolean } = {}) {
    this.path = join(dir, `${writerId()}.log`);
  }

  /** Uploads promised and not yet done. */
  get size(): number {
    return this.pending.size;
  }

  /** Of those, the ones whose line could not be written. */
  get unjournaled(): number {
    return this.notKept.size;
  }

  has(actionId: string): boolean {
    return this.pending.has(actionId);
  }

  /** Records a job; false when it could not be written (it is still pending in memory). */
  add(job: Mapping): boolean {
    this.pending.set(job.actionId, job);
    try {
      this.append(`put ${job.actionId} ${job.outputId} ${job.size} ${job.timeNanos}\n`);
      this.notKept.delete(job.actionId);
      return true;
    } catch (err) {
      this.lastError = err;
      this.notKept.add(job.actionId);
      return false;
    }
  }

  /** Never throws: a lost `done` line only means the next process uploads the entry again. */
  done(actionId: string): void {
    if (!this.pending.delete(actionId)) return;
    this.notKept.delete(actionId);
    try {
      if (this.pending.size === 0 && this.fd >= 0) ftruncateSync(this.fd, 0); // keeps the file short in a long-lived server
      else this.append(`done ${actionId}\n`);
    } catch { /* see above */ }
  }

  /** Pending entries of orphaned journals (see the header), moved into this one. */
  adoptOrphans(now = Date.now()): { jobs: Mapping[]; badLines: number } {
    let names: string[];
    try { names = readdirSync(this.dir); } catch { return { jobs: [], badLines: 0 }; }
    const adopted: Mapping[] = [];
    let badLines = 0;
    for (const name of names) {
      const path = join(this.dir, name);
      if (path === this.path || journalOwner(name, path, now) !== "orphan") continue;
      const claimed = join(this.dir, `${uniqueTag()}.log`);
      try { renameSync(path, claimed); } catch { continue; } // another process won
      try { utimesSync(claimed, new Date(now), new Date(now)); } catch { /* judged by our PID meanwhile */ }
      let text: string;
      try {
        // Bounded: a journal of a server whose uploads failed for weeks is still read, one of gigabytes is not.
        // Too large to adopt: set aside under a name that is no journal (kept for a person to look at), so no one waits on it.
        if (lstatSync(claimed).size > JOURNAL_READ_MAX) { badLines++; try { renameSync(claimed, `${claimed}.too-large`); } catch { /* next claimer */ } continue; }
        text = readFileSync(claimed, "latin1");
      } catch { continue; }
      const parsed = parseJournal(text);
      badLines += parsed.badLines;
      let kept = true;
      for (const job of parsed.jobs) {
        if (this.pending.has(job.actionId)) continue;
        kept = this.add(job) && kept;
        adopted.push(job);
      }
      // Its entries are durable in our journal only if every line was written; else the claimed file stays (an orphan of ours).
      if (kept) try { unlinkSync(claimed); } catch { /* a later process adopts it again: uploads are idempotent */ }
    }
    return { jobs: adopted, badLines };
  }

  /** Closes the file, removing it when nothing is pending. */
  close(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    if (this.pending.size === 0) try { unlinkSync(this.path); } catch { /* never written */ }
  }


  private append(line: string): void {
    if (this.fd < 0) this.open();
    // After a torn write (full disk) the next line starts on a line of its own: the torn one is skipped on replay, this one is not.
    const text = this.torn ? `\n${line}` : line;
    try {
      writeFully(this.fd, Buffer.from(text, "latin1"));
    } catch (err) {
      this.torn = true;
      throw err;
    }
    this.torn = false;
    if (this.opts.fsync) fsyncSync(this.fd);
  }

  private open(): void {
    mkdirSync(this.dir, { recursive: true });
    this.fd = openSync(this.path, "a", 0o600);
    this.ino = fstatSync(this.fd).ino;
    this.heartbeat ??= setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Keeps the journal fresh; rewrites it when another process claimed it while we were stopped. */
  private beat(): void {
    if (this.fd < 0) return;
    try {
      const st = lstatSync(this.path, { throwIfNoEntry: false });
      if (st && st.ino === this.ino) {
        const now = new Date();
        utimesSync(this.path, now, now);
        return;
      }
      closeSync(this.fd);
      this.fd = -1;
      this.path = join(this.dir, `${uniqueTag()}.log`);
      for (const job of [...this.pending.values()]) this.add(job);
    } catch { /* next beat */ }
  }
}

/**
 * Whose journal the file at `path` is (see the header): "live" while its
 * writer may still upload it, "orphan" when that writer is gone or silent;
 * undefined for anything that is not a journal.
 */
export function journalOwner(name: string, path: string, now = Date.now()): "live" | "orphan" | undefined {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st?.isFile()) return undefined;
  const stale = now - st.mtimeMs > STALE_MS;
  if (LEGACY.test(name)) return stale ? "orphan" : "live"; // its PID may be another container's: age decides
  if (!name.endsWith(".log")) return undefined;
  const writer = parseWriter(name);
  if (writer === undefined) return undefined;
  return writerGone(writer) || stale ? "orphan" : "live";
}

/** The pending jobs of a journal's text, and how many lines were neither form (torn or hostile). */
export function parseJournal(text: string): { jobs: Mapping[]; badLines: number } {
  const pending = new Map<string, Mapping>();
  let badLines = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const m = LINE.exec(line);
    if (!m) { badLines++; continue; }
    if (m[5]) pending.delete(m[5]);
    else pending.set(m[1]!, { actionId: m[1]!, outputId: m[2]!, size: Number(m[3]), timeNanos: BigInt(m[4]!) });
  }
  return { jobs: [...pending.values()], badLines };
}
