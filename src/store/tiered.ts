/**
 * Local first, S3 behind it.
 *
 * get: a local hit is answered at once. A local miss asks the bucket (via
 * the worker); concurrent gets of one action share one fetch; a remote miss
 * is remembered for the life of the process; any remote failure is a miss
 * plus one warning per kind of failure, and repeated failures pause remote
 * reads for a while (backing off) so a dead bucket costs a build nothing.
 * put: stored locally, journaled, answered; the upload happens in the
 * worker. close: waits for uploads up to the bound, leaves the rest in the
 * journal for the next process.
 */
import type { Cache, Entry, PutRequest, PutSink } from "./store.ts";
import type { LocalStore } from "./local.ts";
import type { Journal, UploadJob } from "./journal.ts";
import type { RemoteTier } from "../s3/remote-tier.ts";
import type { Logger } from "../log.ts";

export interface TieredOptions {
  local: LocalStore;
  remote: RemoteTier;
  /** Undefined in read-only mode: nothing is uploaded. */
  journal: Journal | undefined;
  minUploadSize: number;
  uploadTimeoutMs: number;
  log: Logger;
}

export interface RemoteCounters {
  hits: number;
  misses: number;
  errors: number;
  corrupt: number;
  bytesDown: number;
  uploads: number;
  uploadsSkippedExisting: number;
  uploadsSkippedSmall: number;
  uploadBytes: number;
  uploadErrors: number;
  uploadQueue: number;
}

export class TieredCache implements Cache {
  readonly counters: RemoteCounters = { hits: 0, misses: 0, errors: 0, corrupt: 0, bytesDown: 0, uploads: 0, uploadsSkippedExisting: 0, uploadsSkippedSmall: 0, uploadBytes: 0, uploadErrors: 0, uploadQueue: 0 };
  private readonly inflight = new Map<string, Promise<Entry | undefined>>();
  private readonly remoteMisses = new Set<string>();
  private readonly warned = new Set<string>();
  private readsPausedUntil = 0;
  private readFailures = 0;
  private drained: (() => void) | undefined;
  /** While closing: uploads that failed, and whether any succeeded, to stop waiting on a dead bucket. */
  private closing: { failed: Set<string>; succeeded: boolean } | undefined;

  constructor(private readonly opts: TieredOptions) {
    opts.remote.events = this.events;
  }

  get(actionId: string): Entry | undefined | Promise<Entry | undefined> {
    const hit = this.opts.local.get(actionId);
    if (hit || this.remoteMisses.has(actionId) || Date.now() < this.readsPausedUntil) return hit;
    let p = this.inflight.get(actionId);
    if (!p) {
      p = this.fault(actionId).finally(() => this.inflight.delete(actionId));
      this.inflight.set(actionId, p);
    }
    return p;
  }

  put(req: PutRequest): PutSink {
    const sink = this.opts.local.put(req);
    return {
      write: (bytes) => sink.write(bytes),
      abort: () => sink.abort(),
      commit: () => {
        const entry = sink.commit();
        this.remoteMisses.delete(req.actionId);
        this.enqueue({ actionId: req.actionId, outputId: entry.outputId, size: entry.size, timeNanos: entry.timeNanos });
        return entry;
      },
    };
  }

  /** Uploads journaled by processes that are gone; call once after start-up. */
  resumeOrphans(): number {
    const jobs = this.opts.journal?.adoptOrphans() ?? [];
    for (const job of jobs) this.opts.remote.upload(job);
    this.counters.uploadQueue = this.opts.journal?.size ?? 0;
    if (jobs.length) this.opts.log.info(`resuming ${jobs.length} uploads left by an earlier process`);
    return jobs.length;
  }

  async close(): Promise<void> {
    const journal = this.opts.journal;
    if (journal && journal.size > 0) {
      const pending = journal.size;
      this.closing = { failed: new Set(), succeeded: false };
      const timedOut = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(true), this.opts.uploadTimeoutMs);
        this.drained = () => { clearTimeout(timer); resolve(false); };
      });
      if (timedOut) this.opts.log.warn(`${journal.size} of ${pending} uploads still pending after ${this.opts.uploadTimeoutMs / 1000}s; kept in the journal for the next run`);
    }
    this.opts.remote.terminate();
    journal?.close();
  }

  private enqueue(job: UploadJob): void {
    const journal = this.opts.journal;
    if (!journal) return;
    if (job.size < this.opts.minUploadSize) {
      this.counters.uploadsSkippedSmall++;
      return;
    }
    journal.add(job); // durable before the put is answered
    this.counters.uploadQueue = journal.size;
    this.opts.remote.upload(job);
  }

  /** Called by the worker's events (wired by the CLI). */
  readonly events = {
    uploaded: (actionId: string, outcome: "written" | "exists" | "gone", bytes: number) => {
      if (outcome === "written") this.counters.uploads++;
      else if (outcome === "exists") this.counters.uploadsSkippedExisting++;
      this.counters.uploadBytes += bytes;
      this.opts.journal?.done(actionId);
      this.counters.uploadQueue = this.opts.journal?.size ?? 0;
      if (this.closing) this.closing.succeeded = true;
      if (this.counters.uploadQueue === 0) this.drained?.();
    },
    uploadFailed: (actionId: string, kind: string, message: string, retryInMs: number) => {
      this.counters.uploadErrors++;
      this.warnOnce(`upload:${kind}`, `${message}; retrying in ${retryInMs / 1000}s (the upload stays journaled)`);
      // Every pending upload failed since close began and none got through: the bucket is
      // unreachable, so stop waiting; the journal hands them to the next process.
      const c = this.closing;
      if (c && !c.succeeded && c.failed.add(actionId).size >= (this.opts.journal?.size ?? 0)) this.drained?.();
    },
    fatal: (kind: string, message: string) => {
      this.counters.errors++;
      this.warnOnce(`fatal:${kind}`, message);
    },
  };

  private async fault(actionId: string): Promise<Entry | undefined> {
    const outcome = await this.opts.remote.fetch(actionId);
    if ("hit" in outcome) {
      this.readFailures = 0;
      this.counters.hits++;
      this.counters.bytesDown += outcome.bytes;
      return { ...outcome.hit, diskPath: this.opts.local.layout.objectPath(outcome.hit.outputId) };
    }
    if ("miss" in outcome) {
      this.readFailures = 0;
      this.counters.misses++;
      this.remoteMisses.add(actionId);
      if (outcome.miss === "digest-mismatch") {
        this.counters.corrupt++;
        this.opts.log.warn(`[s3] not serving action ${actionId}: ${outcome.detail} (tampered or corrupt in the bucket)`);
      }
      return undefined;
    }
    this.counters.errors++;
    this.readFailures++;
    const pauseMs = Math.min(60_000, 1000 * 2 ** Math.min(this.readFailures - 1, 6));
    this.readsPausedUntil = Date.now() + pauseMs;
    this.warnOnce(`read:${outcome.error.kind}`, `${outcome.error.message}; treating remote reads as misses (retrying in ${pauseMs / 1000}s)`);
    return undefined;
  }

  private warnOnce(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.opts.log.warn(message);
  }
}
