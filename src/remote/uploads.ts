/**
 * The upload queue on the main thread: journals each upload before its put
 * is answered, hands it to the worker, and tracks completion. Waiting (at
 * session end or close) is bounded by the upload timeout and ends early when
 * the bucket is plainly unreachable: every pending upload has failed since
 * the last one that succeeded. What is left stays in the journal.
 */
import type { Journal } from "./journal.ts";
import type { Mapping } from "../store/store.ts";
import type { UploadOutcome } from "./worker/messages.ts";
import type { WorkerHandle } from "./worker/handle.ts";
import { describeError, type Logger } from "../log.ts";

export interface UploadCounters {
  uploads: number;
  uploadsSkippedExisting: number;
  uploadsSkippedSmall: number;
  /** Raw bytes of the outputs written to the bucket. */
  uploadBytes: number;
  /** What the bucket holds for them (compressed with --compression zstd). */
  uploadStoredBytes: number;
  uploadErrors: number;
  /** Journaled outputs whose local object failed its check: removed, not uploaded. */
  uploadsCorrupt: number;
  uploadQueue: number;
}

export interface UploadQueueOptions {
  /** Undefined in read-only mode: nothing is uploaded. */
  journal: Journal | undefined;
  worker: WorkerHandle;
  minUploadSize: number;
  timeoutMs: number;
  log: Logger;
  warnOnce(kind: string, message: string): void;
}

export class UploadQueue {
  readonly counters: UploadCounters = { uploads: 0, uploadsSkippedExisting: 0, uploadsSkippedSmall: 0, uploadBytes: 0, uploadStoredBytes: 0, uploadErrors: 0, uploadsCorrupt: 0, uploadQueue: 0 };
  private readonly failedSinceSuccess = new Set<string>();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly opts: UploadQueueOptions) {}

  get enabled(): boolean {
    return this.opts.journal !== undefined;
  }

  /** Journals and starts an upload; false when none is due (read-only, too small). */
  enqueue(job: Mapping): boolean {
    const journal = this.opts.journal;
    if (!journal) return false;
    if (job.size < this.opts.minUploadSize) {
      this.counters.uploadsSkippedSmall++;
      return false;
    }
    // Durable before the put is answered; when the journal cannot be written
    // the entry stays local and is still uploaded, just not durably.
    if (!journal.add(job)) {
      this.opts.warnOnce("journal", `[journal] cannot record uploads in ${journal.path}: ${describeError(journal.lastError)}; uploading without a journal (what is not uploaded by exit stays in the local cache only)`);
    }
    this.counters.uploadQueue = journal.size;
    this.opts.worker.upload(job);
    return true;
  }

  /** Uploads journaled by processes that are gone; call once after start-up. */
  resumeOrphans(): number {
    const { jobs, badLines } = this.opts.journal?.adoptOrphans() ?? { jobs: [], badLines: 0 };
    if (badLines > 0) this.opts.warnOnce("journal-lines", `[journal] skipped ${badLines} malformed lines in journals left by earlier processes`);
    for (const job of jobs) this.opts.worker.upload(job);
    this.counters.uploadQueue = this.opts.journal?.size ?? 0;
    if (jobs.length) this.opts.log.info(`resuming ${jobs.length} uploads left by an earlier process`);
    return jobs.length;
  }

  uploaded(actionId: string, outcome: UploadOutcome, bytes: number, stored = bytes): void {
    if (outcome === "written") this.counters.uploads++;
    else if (outcome === "exists") this.counters.uploadsSkippedExisting++;
    else if (outcome === "corrupt") {
      this.counters.uploadsCorrupt++;
      this.opts.warnOnce("upload:corrupt", `[local] not uploading action ${actionId}: its local object does not match its record (removed; the next build rebuilds it)`);
    }
    this.counters.uploadBytes += bytes;
    this.counters.uploadStoredBytes += stored;
    this.opts.journal?.done(actionId);
    this.counters.uploadQueue = this.opts.journal?.size ?? 0;
    this.failedSinceSuccess.clear();
    this.wake();
  }

  failed(actionId: string, kind: string, message: string, retryInMs: number): void {
    this.counters.uploadErrors++;
    this.opts.warnOnce(`upload:${kind}`, `${message}; retrying in ${retryInMs / 1000}s (the upload stays journaled)`);
    this.failedSinceSuccess.add(actionId);
    this.wake();
  }

  /** Resolves when none of `actionIds` (all, when omitted) is pending, the bucket is unreachable, or the bound passes; true when it timed out. */
  waitFor(actionIds?: Iterable<string>): Promise<boolean> {
    const ids = actionIds ? [...actionIds] : undefined;
    const settled = () => {
      const journal = this.opts.journal;
      if (!journal || this.stalled()) return true;
      return ids ? ids.every((id) => !journal.has(id)) : journal.size === 0;
    };
    if (settled()) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (timedOut: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(timedOut);
      };
      const check = () => { if (settled()) finish(false); };
      const timer = setTimeout(() => finish(true), this.opts.timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Waits for everything pending (bounded), then closes the journal. */
  async close(): Promise<void> {
    const journal = this.opts.journal;
    if (!journal) return;
    const pending = journal.size;
    if (pending > 0) {
      await this.waitFor();
      const left = journal.size;
      const lost = journal.unjournaled;
      if (left > 0 && lost === 0) this.opts.log.warn(`${left} of ${pending} uploads still pending; kept in the journal for the next run`);
      else if (left > 0) this.opts.log.warn(`${left} of ${pending} uploads still pending: ${left - lost} kept in the journal for the next run, ${lost} not kept (the journal could not be written) and not uploaded; those entries stay in the local cache only`);
    }
    journal.close();
  }

  private stalled(): boolean {
    const pending = this.opts.journal?.size ?? 0;
    return pending > 0 && this.failedSinceSuccess.size >= pending;
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}
