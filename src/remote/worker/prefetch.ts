/**
 * Per-session prefetch from manifests. The first few remote lookups of a
 * session also ask the manifest index for their action; the first manifest
 * found is fetched and every entry it lists that is not yet local is pulled
 * in, verified like any fault-in. Small outputs come in the manifest's
 * pack (one request), which goes to the main thread: it installs each entry
 * when the go command asks for it, at once, rather than waiting for this
 * thread (busy with downloads) to get round to it. The others are downloaded
 * with bounded concurrency. A get for an entry being downloaded waits for
 * that download, and one for an entry still waiting its turn starts it at
 * once. Prefetch never fetches more than the manifest lists and stops when
 * the session ends; entries gone from the bucket are skipped (plain gets
 * then miss as usual). The index is asked in every namespace (namespaces.ts)
 * and the manifest, its pack and its outputs are read from the namespace
 * whose pointer was found first; in signed mode an unsigned or badly signed
 * pointer or manifest is no manifest at all: nothing of it is installed.
 */
import { existsSync } from "node:fs";
import type { LocalStore } from "../../store/local.ts";
import type { Mapping } from "../../store/store.ts";
import { PACK_ENTRY_MAX, type CacheBucket } from "../format/bucket.ts";
import { install } from "./fetch.ts";
import { describeError } from "../../log.ts";
import type { FetchOutcome, FromWorker, PackedEntry } from "./messages.ts";
import type { Namespaces } from "./namespaces.ts";

/** How many of a session's first remote lookups also look for a manifest. */
export const MANIFEST_PROBES = 8;

export class SessionPrefetch {
  readonly inflight = new Map<string, Promise<FetchOutcome>>();
  manifestKey: string | undefined;
  private probes = 0;
  private stopped = false;
  /** Entries to download, in manifest order, not started yet. */
  private readonly queue = new Map<string, Mapping>();
  /** The namespace the manifest was found in: its pack and outputs are read from there. */
  private bucket: CacheBucket | undefined;

  constructor(
    private readonly opts: { session: number; namespaces: Namespaces; local: LocalStore; concurrency: number; post: (m: FromWorker) => void },
  ) {}

  /** Called for each remote lookup of the session; probes the index for the first few. */
  probe(actionId: string): void {
    if (this.stopped || this.manifestKey !== undefined || this.probes >= MANIFEST_PROBES) return;
    this.probes++;
    void this.opts.namespaces.findManifest(actionId).then(
      (found) => { if (found && this.manifestKey === undefined && !this.stopped) void this.start(found.bucket, found.key); },
      () => {}, // an unreadable index just means no prefetch
    );
  }

  stop(): void {
    this.stopped = true;
    this.queue.clear();
  }

  /**
   * The fetch of an entry this session's prefetch is responsible for: the
   * running one, or, when it is still waiting its turn, started at once (a
   * get the go command is waiting on goes before the rest of the manifest).
   */
  demand(actionId: string): Promise<FetchOutcome> | undefined {
    const running = this.inflight.get(actionId);
    if (running) return running;
    const queued = this.queue.get(actionId);
    if (!queued) return undefined;
    this.queue.delete(actionId);
    return this.fetch(queued);
  }

  private async start(bucket: CacheBucket, key: string): Promise<void> {
    this.manifestKey = key;
    this.bucket = bucket;
    let entries;
    try {
      entries = await bucket.getManifest(key);
    } catch (err) {
      // Unreadable, malformed or over its bounds (a bomb): no prefetch for this session, and one line saying why.
      this.opts.post({ t: "warn", kind: "manifest-read", message: `${describeError(err)}; not prefetching` });
      return;
    }
    if (!entries || this.stopped) return;
    this.opts.post({ t: "manifestFound", session: this.opts.session, key, entries: entries.length });
    // The pack first, alone: sharing the link with the downloads made it
    // arrive late (~40% slower fresh builds). No pack, or a bad one: every
    // entry is downloaded on its own.
    const pack = await bucket.getPack(key).catch(() => undefined);
    const parts = pack?.parts;
    if (this.stopped) return;
    const packed: PackedEntry[] = [];
    let packedBytes = 0;
    for (const e of entries) {
      if (this.inflight.has(e.actionId) || this.queue.has(e.actionId)) continue;
      if (existsSync(this.opts.local.layout.actionPath(e.actionId))) continue;
      const bytes = e.size <= PACK_ENTRY_MAX ? parts?.get(e.outputId) : undefined;
      if (bytes?.length !== e.size) this.queue.set(e.actionId, e);
      else {
        packed.push({ entry: e, bytes });
        packedBytes += e.size;
      }
    }
    if (pack) this.opts.post({ t: "packFound", session: this.opts.session, entries: packed, bytes: packedBytes, wire: pack.wire });
    const workers = Math.min(this.opts.concurrency, this.queue.size);
    for (let i = 0; i < workers; i++) void this.work();
  }

  private async work(): Promise<void> {
    while (!this.stopped) {
      const next = this.queue.values().next();
      if (next.done) return;
      this.queue.delete(next.value.actionId);
      await this.fetch(next.value);
    }
  }

  /** Downloads and installs one entry, verified. */
  private fetch(e: Mapping): Promise<FetchOutcome> {
    const { local, session, post } = this.opts;
    const p = install(this.bucket!, local, e)
      .catch((err): FetchOutcome => ({ error: { kind: "prefetch", message: String(err) } }))
      .then((outcome) => {
        if ("hit" in outcome) post({ t: "prefetched", session, actionId: e.actionId, bytes: outcome.bytes, wire: outcome.wire ?? outcome.bytes, record: outcome.hit });
        return outcome;
      });
    this.inflight.set(e.actionId, p);
    return p;
  }
}
