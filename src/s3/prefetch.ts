/**
 * Per-session prefetch from manifests. The first few remote lookups of a
 * session also ask the manifest index for their action; the first manifest
 * found is fetched and every entry it lists that is not yet local is pulled
 * in with bounded concurrency, verified like any fault-in: small outputs
 * from the manifest's pack (one request), large ones one by one. A get for an
 * entry being prefetched waits for that fetch instead of starting another.
 * Prefetch never fetches more than the manifest lists and stops when the
 * session ends; entries gone from the bucket are skipped (plain gets then
 * miss as usual).
 */
import { existsSync } from "node:fs";
import type { LocalStore } from "../store/local.ts";
import type { ManifestEntry, RemoteStore } from "../store/remote.ts";
import { PACK_ENTRY_MAX } from "../store/remote.ts";
import { install } from "./fetch.ts";
import { Limiter } from "./limit.ts";
import type { FetchOutcome, FromWorker } from "./messages.ts";

/** How many of a session's first remote lookups also look for a manifest. */
export const MANIFEST_PROBES = 8;

export class SessionPrefetch {
  readonly inflight = new Map<string, Promise<FetchOutcome>>();
  manifestKey: string | undefined;
  /** The found manifest's entries, action ID -> output ID (empty until loaded). */
  readonly manifestOutputs = new Map<string, string>();
  /** Whether the manifest was found by the build's hint. */
  foundByHint = false;
  private probes = 0;
  private stopped = false;
  /** Manifest entries not started yet, in manifest order. */
  private readonly queue = new Map<string, ManifestEntry>();
  /** Bounds the fetches of small entries the pack did not hold. */
  private readonly alone: Limiter;

  constructor(
    private readonly opts: { session: number; remote: RemoteStore; local: LocalStore; concurrency: number; post: (m: FromWorker) => void },
  ) {
    this.alone = new Limiter(opts.concurrency);
  }

  /**
   * True when the found manifest lists exactly `entries` (distinct actions),
   * so there is no need to write a new one. A manifest listing more (a cold
   * build's lists entries a warm one never asks for) is replaced, or every
   * later runner would prefetch the surplus.
   */
  describes(entries: ManifestEntry[]): boolean {
    return this.manifestOutputs.size === entries.length && entries.every((e) => this.manifestOutputs.get(e.actionId) === e.outputId);
  }

  /** Called for each remote lookup of the session; probes the index for the first few. */
  probe(actionId: string): void {
    if (this.stopped || this.manifestKey !== undefined || this.probes >= MANIFEST_PROBES) return;
    this.probes++;
    void this.opts.remote.getManifestPointer(actionId).then(
      (key) => { if (key && this.manifestKey === undefined && !this.stopped) void this.start(key); },
      () => {}, // an unreadable index just means no prefetch
    );
  }

  /** The build's hint is known (at session start): look its manifest up at once. */
  hinted(hint: string): void {
    if (this.stopped || this.manifestKey !== undefined) return;
    void this.opts.remote.getManifestByHint(hint).then(
      (key) => {
        if (!key || this.manifestKey !== undefined || this.stopped) return;
        this.foundByHint = true;
        void this.start(key);
      },
      () => {}, // no hint filed, or unreadable: the first gets still probe the index
    );
  }

  stop(): void {
    this.stopped = true;
    this.queue.clear();
  }

  private async start(key: string): Promise<void> {
    this.manifestKey = key;
    let entries;
    try {
      entries = await this.opts.remote.getManifest(key);
    } catch {
      return;
    }
    if (!entries || this.stopped) return;
    for (const e of entries) this.manifestOutputs.set(e.actionId, e.outputId);
    this.opts.post({ t: "manifestFound", session: this.opts.session, key, entries: entries.length });
    // Small outputs come in one request, the manifest's pack; what it lacks
    // is fetched alone. The large outputs start once the pack is in (sharing
    // the link with them made it arrive late: ~40% slower fresh builds);
    // a get for a large one meanwhile starts it at once (see demand).
    const pack = this.opts.remote.getPack(key).then((parts) => {
      if (parts) {
        let bytes = 0;
        for (const b of parts.values()) bytes += b.length;
        this.opts.post({ t: "packFound", session: this.opts.session, outputs: parts.size, bytes });
      }
      return parts;
    }).catch(() => undefined); // no pack, or a bad one: fetch one by one
    for (const e of entries) {
      if (this.inflight.has(e.actionId) || this.queue.has(e.actionId) || existsSync(this.opts.local.layout.actionPath(e.actionId))) continue;
      if (e.size <= PACK_ENTRY_MAX) void this.fetch(e, pack);
      else this.queue.set(e.actionId, e);
    }
    await pack;
    if (this.stopped) return;
    const workers = Math.min(this.opts.concurrency, this.queue.size);
    for (let i = 0; i < workers; i++) void this.work();
  }

  /**
   * The fetch of an entry this session's prefetch is responsible for: the
   * running one, or, when it is still queued, started at once (a get the go
   * command is waiting on goes before the rest of the manifest).
   */
  demand(actionId: string): Promise<FetchOutcome> | undefined {
    const running = this.inflight.get(actionId);
    if (running) return running;
    const queued = this.queue.get(actionId);
    if (!queued) return undefined;
    this.queue.delete(actionId);
    return this.fetch(queued);
  }

  private async work(): Promise<void> {
    while (!this.stopped) {
      const next = this.queue.values().next();
      if (next.done) return;
      this.queue.delete(next.value.actionId);
      await this.fetch(next.value);
    }
  }

  /** Installs one entry: from the pack when it holds the output (verified like any fetch), else on its own. */
  private fetch(e: ManifestEntry, pack?: Promise<Map<string, Uint8Array> | undefined>): Promise<FetchOutcome> {
    const { local, remote, session, post } = this.opts;
    const alone = () => this.alone.run(() => install(remote, local, e));
    const installed = pack
      ? pack.then((parts) => {
        const bytes = parts?.get(e.outputId);
        if (this.stopped) return { miss: "no-output", detail: "prefetch stopped" } as const;
        return bytes?.length === e.size ? install(remote, local, e, bytes) : alone();
      })
      : install(remote, local, e);
    const p = installed
      .catch((err): FetchOutcome => ({ error: { kind: "prefetch", message: String(err) } }))
      .then((outcome) => {
        if ("hit" in outcome) post({ t: "prefetched", session, actionId: e.actionId, bytes: outcome.bytes });
        return outcome;
      });
    this.inflight.set(e.actionId, p);
    return p;
  }
}
