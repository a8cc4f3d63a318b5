/**
 * The read side of the remote tier, on the protocol loop: what a local miss
 * becomes.
 *
 * Contract of `lookup` (called only after a local miss): an entry of the
 * session's manifest pack is installed at once (verified; synchronous); any
 * other action is asked of the bucket through the worker, concurrent lookups
 * of one action sharing one fetch. `undefined` is a miss: a remote miss
 * (remembered for the life of the process), a digest mismatch (counted and
 * logged, never served) or any remote failure (one warning per kind;
 * repeated failures pause remote reads for a while, backing off, so a dead
 * bucket costs a build nothing). Installed entries' action records are held
 * in memory until the session ends (see deferred-actions.ts).
 */
import type { ActionRecord, Entry } from "../store/store.ts";
import type { SessionLedger } from "./ledger.ts";
import type { LocalStore } from "../store/local.ts";
import type { WorkerHandle } from "./worker/handle.ts";
import type { PackedEntry } from "./worker/messages.ts";
import { installVerified } from "../store/install.ts";
import { describeError, type Logger } from "../log.ts";

/** Consecutive remote read failures before remote reads pause. */
const PAUSE_AFTER_FAILURES = 3;

export interface RemoteCounters {
  hits: number;
  misses: number;
  errors: number;
  corrupt: number;
  /** Raw bytes of outputs fetched on demand, and what was downloaded for them. */
  bytesDown: number;
  bytesDownWire: number;
  manifestsFound: number;
  manifestsWritten: number;
  prefetched: number;
  prefetchBytes: number;
  /** What was downloaded for prefetched entries and packs. */
  prefetchWireBytes: number;
  prefetchHits: number;
  prefetchWastedBytes: number;
  /** Manifest packs read (each brings many small outputs in one request). */
  prefetchPacks: number;
  /** Signed mode: records, pointers and manifests ignored as unsigned, or for a signature that fails. */
  unsigned: number;
  badSignature: number;
}

export interface FaultInOptions {
  local: LocalStore;
  worker: WorkerHandle;
  log: Logger;
  warnOnce(kind: string, message: string): void;
  /** An open session by the ID the worker reports. */
  sessionById(id: number): SessionLedger | undefined;
}

export class FaultIn {
  readonly counters: RemoteCounters = { hits: 0, misses: 0, errors: 0, corrupt: 0, bytesDown: 0, bytesDownWire: 0, manifestsFound: 0, manifestsWritten: 0, prefetched: 0, prefetchBytes: 0, prefetchWireBytes: 0, prefetchHits: 0, prefetchWastedBytes: 0, prefetchPacks: 0, unsigned: 0, badSignature: 0 };
  private readonly inflight = new Map<string, Promise<Entry | undefined>>();
  private readonly remoteMisses = new Set<string>();
  private readsPausedUntil = 0;
  private readFailures = 0;

  constructor(private readonly opts: FaultInOptions) {}

  lookup(actionId: string, s: SessionLedger): Entry | undefined | Promise<Entry | undefined> {
    const packed = s.takePacked(actionId);
    const installed = packed && this.installPacked(packed);
    if (installed) return installed;
    if (this.remoteMisses.has(actionId) || Date.now() < this.readsPausedUntil) return undefined;
    let p = this.inflight.get(actionId);
    if (!p) {
      p = this.fault(actionId, s).finally(() => this.inflight.delete(actionId));
      this.inflight.set(actionId, p);
    }
    return p;
  }

  /** The action now exists locally (a put): a remembered remote miss no longer applies. */
  forgetMiss(actionId: string): void {
    this.remoteMisses.delete(actionId);
  }

  /** The worker's prefetch and trust reports. */
  readonly events = {
    untrusted: (verdict: "unsigned" | "bad-signature", what: string) => {
      if (verdict === "unsigned") this.counters.unsigned++;
      else this.counters.badSignature++;
      const why = verdict === "unsigned" ? "it is not signed" : "its signature is not that of a listed key for its prefix";
      this.opts.warnOnce(`trust:${verdict}`, `[trust] ignoring ${what}: ${why} (signed mode; a miss; further ones are counted in remote_${verdict === "unsigned" ? "unsigned" : "bad_signature"})`);
    },
    manifestFound: (session: number, key: string, entries: number) => {
      this.counters.manifestsFound++;
      const s = this.opts.sessionById(session);
      if (s) s.manifestKey = key;
      this.opts.log.info(`prefetching from manifest ${key} (${entries} entries)`);
    },
    packFound: (session: number, entries: PackedEntry[], bytes: number, wire: number) => {
      this.counters.prefetchPacks++;
      this.counters.prefetchWireBytes += wire;
      const s = this.opts.sessionById(session);
      if (s) for (const p of entries) s.notePacked(p);
      this.opts.log.info(`manifest pack: ${entries.length} small outputs (${bytes} bytes) in one request`);
    },
    prefetched: (session: number, actionId: string, bytes: number, wire: number, record: ActionRecord) => {
      this.counters.prefetched++;
      this.counters.prefetchBytes += bytes;
      this.counters.prefetchWireBytes += wire;
      const s = this.opts.sessionById(session);
      // Used already: its get came first and was answered (and counted) from this
      // prefetch; the record is held, or after a put newer on disk.
      if (s?.used.has(actionId)) return;
      this.opts.local.deferred.put(actionId, record);
      s?.prefetched.set(actionId, bytes);
    },
  };

  /** Installs a pack entry if its bytes verify; undefined (and the caller asks the bucket) if not. */
  private installPacked(p: PackedEntry): Entry | undefined {
    const { actionId } = p.entry;
    let outcome;
    try {
      outcome = installVerified(this.opts.local, p.entry, p.bytes);
    } catch (err) {
      this.opts.warnOnce("pack-install", `[local] install action ${actionId} from the manifest pack: ${describeError(err)}`);
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
    this.opts.log.warn(`[remote] not serving action ${actionId} from the manifest pack: ${"detail" in outcome ? outcome.detail : "unverified"}; fetching it on its own`);
    return undefined;
  }

  private async fault(actionId: string, s: SessionLedger): Promise<Entry | undefined> {
    const outcome = await this.opts.worker.fetch(actionId, s.id);
    if ("hit" in outcome) {
      this.opts.local.deferred.put(actionId, outcome.hit);
      this.readFailures = 0;
      this.counters.hits++;
      const listed = s.takePrefetched(actionId);
      if (outcome.prefetched || listed) this.counters.prefetchHits++;
      this.counters.bytesDown += outcome.bytes;
      this.counters.bytesDownWire += outcome.wire ?? outcome.bytes;
      return { ...outcome.hit, diskPath: this.opts.local.layout.objectPath(outcome.hit.outputId) };
    }
    if ("miss" in outcome) {
      this.readFailures = 0;
      this.counters.misses++;
      this.remoteMisses.add(actionId);
      if (outcome.miss === "digest-mismatch") {
        this.counters.corrupt++;
        this.opts.log.warn(`[remote] not serving action ${actionId}: ${outcome.detail} (tampered or corrupt in the bucket)`);
      }
      return undefined;
    }
    this.counters.errors++;
    if (outcome.error.kind.startsWith("local/")) {
      // Our disk, not the bucket: a miss for this get, remote reads go on.
      this.opts.warnOnce(`read:${outcome.error.kind}`, `${outcome.error.message}; answering a miss`);
      return undefined;
    }
    this.readFailures++;
    // One failure is a miss for that get only; repeated failures in a row pause remote reads.
    if (this.readFailures < PAUSE_AFTER_FAILURES) {
      this.opts.warnOnce(`read:${outcome.error.kind}`, `${outcome.error.message}; answering a miss`);
      return undefined;
    }
    const pauseMs = Math.min(60_000, 1000 * 2 ** Math.min(this.readFailures - PAUSE_AFTER_FAILURES, 6));
    this.readsPausedUntil = Date.now() + pauseMs;
    this.opts.warnOnce(`pause:${outcome.error.kind}`, `${outcome.error.message}; treating remote reads as misses (retrying in ${pauseMs / 1000}s)`);
    return undefined;
  }
}
