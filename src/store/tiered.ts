/**
 * Local first, S3 behind it.
 *
 * get: a local hit is answered at once. A local miss is installed from the
 * session's manifest pack when the pack holds it (verified, here, at once);
 * otherwise it asks the bucket (via the worker); concurrent gets of one action share one fetch; a remote miss
 * is remembered for the life of the process; any remote failure is a miss
 * plus one warning per kind of failure, and repeated failures pause remote
 * reads for a while (backing off) so a dead bucket costs a build nothing.
 * put: stored locally, journaled, answered; the upload happens in the
 * worker. close: waits for uploads up to the bound, leaves the rest in the
 * journal for the next process.
 */
import type { ActionRecord, Cache, Entry, PutRequest, PutSink, SessionHandle } from "./store.ts";
import { SessionLedger } from "./ledger.ts";
import type { LocalStore } from "./local.ts";
import type { Journal } from "./journal.ts";
import { UploadQueue } from "./uploads.ts";
import type { RemoteTier } from "../s3/remote-tier.ts";
import type { PackedEntry } from "../s3/messages.ts";
import { installVerified } from "../s3/fetch.ts";
import { describeError } from "../log.ts";
import type { Logger } from "../log.ts";

/** Consecutive remote read failures before remote reads pause. */
const PAUSE_AFTER_FAILURES = 3;

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
  manifestsFound: number;
  manifestsWritten: number;
  prefetched: number;
  prefetchBytes: number;
  prefetchHits: number;
  prefetchWastedBytes: number;
  /** Manifest packs read (each brings many small outputs in one request). */
  prefetchPacks: number;
}

export class TieredCache implements Cache {
  readonly counters: RemoteCounters = { hits: 0, misses: 0, errors: 0, corrupt: 0, bytesDown: 0, manifestsFound: 0, manifestsWritten: 0, prefetched: 0, prefetchBytes: 0, prefetchHits: 0, prefetchWastedBytes: 0, prefetchPacks: 0 };
  private readonly sessions = new Map<number, SessionLedger>();
  /** For sessions that never opened one (tests, simple callers). */
  private readonly defaultSession = new SessionLedger();
  private readonly inflight = new Map<string, Promise<Entry | undefined>>();
  private readonly remoteMisses = new Set<string>();
  private readonly warned = new Set<string>();
  private readsPausedUntil = 0;
  private readFailures = 0;
  readonly uploads: UploadQueue;

  constructor(private readonly opts: TieredOptions) {
    this.uploads = new UploadQueue({ journal: opts.journal, remote: opts.remote, minUploadSize: opts.minUploadSize, timeoutMs: opts.uploadTimeoutMs, log: opts.log, warnOnce: (k, m) => this.warnOnce(k, m) });
    opts.remote.events = this.events;
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
    const write = completed && this.uploads.enabled && s.used.size > 0;
    const manifest = write ? { entries: [...s.used.values()], firstGets: s.firstGets } : undefined;
    const done = await this.opts.remote.endSession(s.id, manifest);
    if (done.manifestKey && done.manifestKey !== s.manifestKey) {
      this.counters.manifestsWritten++;
      this.opts.log.info(`wrote manifest ${done.manifestKey} (${s.used.size} entries)`);
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
    const packed = s.takePacked(actionId);
    const installed = packed && this.installPacked(packed);
    if (installed) {
      s.noteUse(actionId, installed);
      return installed;
    }
    if (this.remoteMisses.has(actionId) || Date.now() < this.readsPausedUntil) return undefined;
    let p = this.inflight.get(actionId);
    if (!p) {
      p = this.fault(actionId, s).finally(() => this.inflight.delete(actionId));
      this.inflight.set(actionId, p);
    }
    return p.then((e) => {
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
        this.remoteMisses.delete(req.actionId);
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
    this.opts.remote.terminate();
  }

  /** Called by the worker's events (wired by the CLI). */
  readonly events = {
    uploaded: (actionId: string, outcome: "written" | "exists" | "gone", bytes: number) => this.uploads.uploaded(actionId, outcome, bytes),
    uploadFailed: (actionId: string, kind: string, message: string, retryInMs: number) => this.uploads.failed(actionId, kind, message, retryInMs),
    manifestFound: (session: number, key: string, entries: number) => {
      this.counters.manifestsFound++;
      const s = this.sessionById(session);
      if (s) s.manifestKey = key;
      this.opts.log.info(`prefetching from manifest ${key} (${entries} entries)`);
    },
    packFound: (session: number, entries: PackedEntry[], bytes: number) => {
      this.counters.prefetchPacks++;
      const s = this.sessionById(session);
      if (s) for (const p of entries) s.notePacked(p);
      this.opts.log.info(`manifest pack: ${entries.length} small outputs (${bytes} bytes) in one request`);
    },
    prefetched: (session: number, actionId: string, bytes: number, record: ActionRecord) => {
      this.counters.prefetched++;
      this.counters.prefetchBytes += bytes;
      const s = this.sessionById(session);
      // Used already: its get came first and was answered (and counted) from this
      // prefetch; the record is held, or after a put newer on disk.
      if (s?.used.has(actionId)) return;
      this.opts.local.deferred.put(actionId, record);
      s?.prefetched.set(actionId, bytes);
    },
    fatal: (kind: string, message: string) => {
      this.counters.errors++;
      this.warnOnce(`fatal:${kind}`, message);
    },
  };

  /** Installs a pack entry if its bytes verify; undefined (and the caller asks the bucket) if not. */
  private installPacked(p: PackedEntry): Entry | undefined {
    const { actionId } = p.entry;
    let outcome;
    try {
      outcome = installVerified(this.opts.local, p.entry, p.bytes);
    } catch (err) {
      this.warnOnce("pack-install", `[local] install action ${actionId} from the manifest pack: ${describeError(err)}`);
      return undefined;
    }
    if ("hit" in outcome) {
      this.opts.local.deferred.put(actionId, outcome.hit);
      this.counters.prefetched++;
      this.counters.prefetchBytes += outcome.bytes;
      this.counters.prefetchHits++;
      return { ...outcome.hit, diskPath: this.opts.local.layout.objectPath(outcome.hit.outputId) };
    }
    this.counters.corrupt++;
    this.opts.log.warn(`[s3] not serving action ${actionId} from the manifest pack: ${"detail" in outcome ? outcome.detail : "unverified"}; fetching it on its own`);
    return undefined;
  }

  private async fault(actionId: string, s: SessionLedger): Promise<Entry | undefined> {
    const outcome = await this.opts.remote.fetch(actionId, s.id);
    if ("hit" in outcome) {
      this.opts.local.deferred.put(actionId, outcome.hit);
      this.readFailures = 0;
      this.counters.hits++;
      const listed = s.takePrefetched(actionId);
      if (outcome.prefetched || listed) this.counters.prefetchHits++;
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
    // One failure is a miss for that get only; repeated failures in a row pause remote reads.
    if (this.readFailures < PAUSE_AFTER_FAILURES) {
      this.warnOnce(`read:${outcome.error.kind}`, `${outcome.error.message}; answering a miss`);
      return undefined;
    }
    const pauseMs = Math.min(60_000, 1000 * 2 ** Math.min(this.readFailures - PAUSE_AFTER_FAILURES, 6));
    this.readsPausedUntil = Date.now() + pauseMs;
    this.warnOnce(`pause:${outcome.error.kind}`, `${outcome.error.message}; treating remote reads as misses (retrying in ${pauseMs / 1000}s)`);
    return undefined;
  }

  private warnOnce(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.opts.log.warn(message);
  }
}
