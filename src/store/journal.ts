/**
 * The upload journal: uploads that were promised (the put was answered) but
 * have not reached the bucket yet. Nothing acknowledged is lost to a crash:
 *
 *   v1/journal/<pid>-<random>.log    one file per process, append-only lines:
 *     put <action id> <output id> <size> <unix nanos>
 *     done <action id>
 *
 * A line is written (write(2), no fsync: it survives the process being
 * killed) before the put is answered. A process that finds the journal of a
 * process that is gone claims it (rename, so only one does), copies its
 * pending entries into its own journal and uploads them. A journal whose
 * entries are all done is truncated; at exit an empty one is removed.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

export interface UploadJob {
  actionId: string;
  outputId: string;
  size: number;
  timeNanos: bigint;
}

export class Journal {
  readonly path: string;
  private fd = -1;
  private readonly pending = new Map<string, UploadJob>();

  constructor(readonly dir: string) {
    this.path = join(dir, `${process.pid}-${Math.random().toString(36).slice(2, 10)}.log`);
  }

  /** Uploads promised and not yet done. */
  get size(): number {
    return this.pending.size;
  }

  has(actionId: string): boolean {
    return this.pending.has(actionId);
  }

  add(job: UploadJob): void {
    this.pending.set(job.actionId, job);
    this.append(`put ${job.actionId} ${job.outputId} ${job.size} ${job.timeNanos}\n`);
  }

  done(actionId: string): void {
    if (!this.pending.delete(actionId)) return;
    if (this.pending.size === 0 && this.fd >= 0) {
      ftruncateSync(this.fd, 0); // keeps the file short in a long-lived server
    } else this.append(`done ${actionId}\n`);
  }

  /** Pending entries of journals left by processes that are gone, moved into this one. */
  adoptOrphans(): UploadJob[] {
    let names: string[];
    try { names = readdirSync(this.dir); } catch { return []; }
    const adopted: UploadJob[] = [];
    for (const name of names) {
      const m = /^(\d+)-[a-z0-9]+\.log$/.exec(name);
      if (!m || join(this.dir, name) === this.path || processAlive(Number(m[1]))) continue;
      const claimed = join(this.dir, `${name}.claim-${process.pid}`);
      try { renameSync(join(this.dir, name), claimed); } catch { continue; } // another process won
      for (const job of parseJournal(readFileSync(claimed, "latin1"))) {
        if (!this.pending.has(job.actionId)) {
          this.add(job);
          adopted.push(job);
        }
      }
      unlinkSync(claimed);
    }
    return adopted;
  }

  /** Closes the file, removing it when nothing is pending. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    if (this.pending.size === 0) try { unlinkSync(this.path); } catch { /* never written */ }
  }

  private append(line: string): void {
    if (this.fd < 0) {
      mkdirSync(this.dir, { recursive: true });
      this.fd = openSync(this.path, "a");
    }
    writeSync(this.fd, line);
  }
}

export function parseJournal(text: string): UploadJob[] {
  const pending = new Map<string, UploadJob>();
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f[0] === "put" && f.length === 5 && /^\d+$/.test(f[3]!) && /^\d+$/.test(f[4]!)) {
      pending.set(f[1]!, { actionId: f[1]!, outputId: f[2]!, size: Number(f[3]), timeNanos: BigInt(f[4]!) });
    } else if (f[0] === "done" && f.length === 2) pending.delete(f[1]!);
  }
  return [...pending.values()];
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
