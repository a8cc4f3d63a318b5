/**
 * Local first, the bucket behind it.
 *
 * get: a local hit is answered at once; a local miss goes to the remote
 * reads (remote-reads.ts: the session's manifest pack, else the bucket via
 * the worker; failures are misses). put: stored locally, journaled,
 * answered; the upload happens in the worker. A session's end waits for its
 * uploads up to the bound, writes its manifest and the held action records
 * of what it installed. close: the same for the process; what is not
 * uploaded stays in the journal for the next process.
 */
import type { Cache, Entry, PutRequest, PutSink, SessionHandle } from "../store/store.ts";
import { SessionLedger } from "./ledger.ts";
import type { UseMarks } from "./usage.ts";
import type { LocalStore } from "../store/local.ts";
import type { Journal } from "./journal.ts";
import { UploadQueue } from "./uploads.ts";
import type { WorkerHandle, WorkerEvents } from "./worker/handle.ts";
import { describeError, type Logger } from "../log.ts";
import { FaultIn, type RemoteCounters } from "./fault-in.ts";

export type { RemoteCounters } from "./fault-in.ts";

export interface TieredOptions {
  local: LocalStore;
  /** Makes the handle on the remote worker, given where its reports go. */
  worker: (events: WorkerEvents) => WorkerHandle;
  /** Undefined in read-only mode: nothing is uploaded. */
  journal: Journal | undefined;
  /** When this directory last refreshed each session's trace of use; undefined in read-only mode. */
  uses: UseMarks | undefined;
  minUploadSize: number;
  uploadTimeoutMs: number;
  log: Logger;
}

export class TieredCache implements Cache {
  private readonly sessions = new Map<number, SessionLedger>();
  /** For sessions that never opened one (tests, simple callers). */
  private readonly defaultSession = new SessionLedger();
  private readonly warned = new Set<string>();
  private readonly reads: FaultIn;
  readonly uploads: UploadQueue;
  /** The remote worker, started on first use (or by warmUp). */
  private readonly worker: WorkerHandle;

  constructor(private readonly opts: TieredOptions) {
    const warnOnce = (kind: string, message: string) => this.warnOnce(kind, message);
    // The worker's reports: uploads to the upload queue, prefetch to the fault-in.
    this.worker = opts.worker({
      uploaded: (actionId, outcome, bytes, stored) => this.uploads.uploaded(actionId, outcome, bytes, stored),
      uploadFailed: (actionId, kind, message, retryInMs) => this.uploads.failed(actionId, kind, message, retryInMs),
      manifestFound: (session, key, entries) => this.reads.events.manifestFound(session, key, entries),
      packFound: (session, entries, bytes, wire) => this.reads.events.packFound(session, entries, bytes, wire),
      prefetched: (session, actionId, bytes, wire, record) => this.reads.events.prefetched(session, actionId, bytes, wire, record),
      untrusted: (verdict, what) => this.reads.events.untrusted(verdict, what),
      warn: (kind, message) => this.warnOnce(`warn:${kind}`, message),
      fatal: (kind, message) => {
        this.counters.errors++;
        this.warnOnce(`fatal:${kind}`, message);
      },
    });
    this.reads = new FaultIn({ local: opts.local, worker: this.worker, log: opts.log, warnOnce, sessionById: (id) => this.sessionById(id) });
    this.uploads = new UploadQueue({ journal: opts.journal, worker: this.worker, minUploadSize: opts.minUploadSize, timeoutMs: opts.uploadTimeoutMs, log: opts.log, warnOnce });
  }

  /**
   * Work that must not delay the capability message: on a fresh runner (no
   * action record here yet, so every get goes to the bucket) the worker is
   * started now rather than by the first get; uploads journaled by
   * processes that are gone are resumed.
   */
  afterStart(): void {
    if (this.opts.local.isEmpty()) this.worker.start();
    this.resumeOrphans();
  }

  /** True while the remote worker runs (started, not yet terminated). */
  get workerRunning(): boolean {
    return this.worker.running;
  }

  /**
   * Raw bytes over bucket bytes, for everything this process moved (uploads
   * written, downloads and packs): 1 when nothing moved or nothing was
   * compressed.
   */
  get compressionRatio(): number {
    const c = this.counters, u = this.uploads.counters;
    const raw = u.uploadBytes + c.bytesDown + c.prefetchBytes;
    const stored = u.uploadStoredBytes + c.bytesDownWire + c.prefetchWireBytes;
    return stored > 0 ? Math.round((raw / stored) * 100) / 100 : 1;
  }

  /** The worker reports through the event loop: once it runs, nothing may block it. */
  usesEventLoop(): boolean {
    return this.worker.running;
  }

  /** The remote tier's read and prefetch counters (upload counters: `uploads.counters`). */
  get counters(): RemoteCounters {
    return this.reads.counters;
  }

  openSession(): SessionHandle {
    const s = new SessionLedger();
    this.sessions.set(s.id, s);
    return s;
  }

  /**
   * Waits (up to the upload bound) for the session's uploads, then has the
   * worker stop its prefetch and, for a completed session, write its
   * manifest (unless it is the one the session was prefetched from).
   */
  async closeSession(handle: SessionHandle, completed: boolean): Promise<void> {
    const s = this.ledger(handle);
    if (s.uploading.size > 0) await this.uploads.waitFor(s.uploading);
    this.sessions.delete(s.id);
    this.counters.prefetchWastedBytes += s.wastedBytes();
    const uses = this.opts.uses;
    const write = completed && this.uploads.enabled && uses !== undefined && s.used.size > 0;
    // The trace of use (usage.ts): skipped while the bucket's copy, as last seen here, is within the interval.
    const trace = write ? s.traceId : undefined;
    const manifest = trace && uses!.due(trace) ? { entries: [...s.used.values()], firstGets: s.firstGets, maxAgeMs: uses!.intervalMs } : undefined;
    const done = await this.worker.endSession(s.id, manifest);
    if (done.manifestKey && done.traceMs !== undefined && !done.error) uses!.mark(trace!, done.traceMs);
    if (done.written) {
      this.counters.manifestsWritten++;
      this.opts.log.info(`${done.written === "refreshed" ? "refreshed" : "wrote"} manifest ${done.manifestKey} (${s.used.size} entries)`);
    }
    if (done.error) this.warnOnce(`manifest:${done.error.kind}`, `${done.error.message} (the next build will not prefetch)`);
    await this.flushRecords(); // the go command has its close reply: it no longer waits on us
  }

  /** Writes the held records of installed entries; a failure is one warning per process. */
  private async flushRecords(): Promise<void> {
    const { deferred } = this.opts.local;
    await deferred.flush();
    if (deferred.failures > 0) this.warnOnce("records", `[local] action records of installed entries not written (later builds look them up remotely): ${describeError(deferred.lastError)}`);
  }

  get(actionId: string, handle?: SessionHandle): Entry | undefined | Promise<Entry | undefined> {
    const s = this.ledger(handle);
    s.noteGet(actionId);
    const hit = this.opts.local.get(actionId);
    if (hit) {
      if (s.takePrefetched(actionId)) this.counters.prefetchHits++;
      s.noteUse(actionId, hit);
      return hit;
    }
    const found = this.reads.lookup(actionId, s);
    if (!(found instanceof Promise)) {
      if (found) s.noteUse(actionId, found);
      return found;
    }
    return found.then((e) => {
      if (e) s.noteUse(actionId, e);
      return e;
    });
  }

  put(req: PutRequest, handle?: SessionHandle): PutSink {
    const sink = this.opts.local.put(req);
    const s = this.ledger(handle);
    return {
      write: (bytes) => sink.write(bytes),
      abort: () => sink.abort(),
      commit: () => {
        const entry = sink.commit();
        this.reads.forgetMiss(req.actionId);
        s.noteUse(req.actionId, entry);
        if (this.uploads.enqueue({ actionId: req.actionId, outputId: entry.outputId, size: entry.size, timeNanos: entry.timeNanos })) s.uploading.add(req.actionId);
        return entry;
      },
    };
  }

  /** An open session (or the default one) by the ID the worker reports. */
  private sessionById(id: number): SessionLedger | undefined {
    return this.sessions.get(id) ?? (this.defaultSession.id === id ? this.defaultSession : undefined);
  }

  private ledger(handle: SessionHandle | undefined): SessionLedger {
    return (handle && this.sessions.get(handle.id)) ?? (handle instanceof SessionLedger ? handle : this.defaultSession);
  }

  /** Uploads journaled by processes that are gone; call once after start-up. */
  resumeOrphans(): number {
    return this.uploads.resumeOrphans();
  }

  async close(): Promise<void> {
    await this.uploads.close();
    await this.flushRecords();
    this.worker.terminate();
  }

  private warnOnce(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.opts.log.warn(message);
  }
}
