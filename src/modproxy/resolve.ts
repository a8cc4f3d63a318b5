/**
 * The caching rules, independent of HTTP:
 *
 * - immutable files: local store, else bucket, else upstream (verified,
 *   then written back to both); once stored, served forever;
 * - mutable files: upstream first unless the local copy is younger than
 *   its time-to-live; when upstream fails, the last good copy;
 * - pass-through: upstream only, nothing stored.
 *
 * Concurrent requests for one key share one resolution (singleflight), and
 * the stores are re-checked inside it, so N parallel misses cost one
 * upstream fetch. An upstream 404/410 comes back as `missing` with its text;
 * any other failure as `failed` with a reason.
 *
 * A file with a validator (validate.ts) is read within its size bound and
 * checked before it is stored: an upstream answer that fails is served as
 * `bytes` with source "invalid" (never stored), a bucket copy that fails is
 * a bucket miss. Zips are checked by their `verify` instead.
 */
import { rmSync } from "node:fs";
import type { Logger } from "../log.ts";
import { SingleFlight } from "./singleflight.ts";
import type { ModStorage, StoredFile } from "./storage.ts";
import type { Upstream } from "./upstream.ts";
import type { Validator } from "./validate.ts";

export interface ModCounters {
  requests: number;
  cacheHitsLocal: number;
  cacheHitsBucket: number;
  upstreamFetches: number;
  upstreamErrors: number;
  notFound: number;
  bytesServed: number;
  rejected: number; // malformed client requests (400/404 before any lookup)
  corruptDownloads: number;
  /** Upstream answers that failed validation, passed through uncached. */
  invalidUpstream: number;
  /** Bucket copies that failed validation, treated as misses. */
  invalidBucket: number;
}

export const newModCounters = (): ModCounters => ({
  requests: 0, cacheHitsLocal: 0, cacheHitsBucket: 0, upstreamFetches: 0, upstreamErrors: 0, notFound: 0, bytesServed: 0, rejected: 0, corruptDownloads: 0, invalidUpstream: 0, invalidBucket: 0,
});

export type Source = "local" | "bucket" | "upstream" | "stale" | "invalid";

export type Answer =
  | { kind: "file"; file: StoredFile; source: Source }
  | { kind: "bytes"; bytes: Uint8Array; source: "upstream" | "invalid" }
  | { kind: "missing"; status: 404 | 410; text: string }
  | { kind: "failed"; reason: string };

export interface ImmutableOptions {
  /** Checks a downloaded file (upstream or bucket); a reason refuses it. */
  verify?: (tmp: string) => Promise<string | undefined>;
  /** Checks a small file; its maxBytes bounds the download (instead of maxBytes). */
  validator?: Validator;
  bodyTimeoutMs?: number; maxBytes?: number;
}

/** Bound for files without a validator of their own (sumdb tiles). */
export const SMALL_MAX = 16 << 20;

export class Resolver {
  private readonly flights = new SingleFlight<Answer>();
  private readonly warned = new Set<string>();

  constructor(private readonly storage: ModStorage, private readonly upstream: Upstream, private readonly counters: ModCounters, private readonly log: Logger) {}

  immutable(key: string, upstreamPath: string, o: ImmutableOptions = {}): Promise<Answer> {
    const hit = this.localHit(key);
    if (hit) return Promise.resolve(hit);
    return this.flights.do(key, async () => {
      const again = this.localHit(key);
      if (again) return again;
      const v = o.validator;
      const maxBytes = v?.maxBytes ?? o.maxBytes;
      const fromBucket = await this.storage.fromBucket(key, v ? (tmp) => this.checkBucketCopy(v, tmp) : o.verify, maxBytes);
      if (fromBucket) {
        this.counters.cacheHitsBucket++;
        return { kind: "file", file: fromBucket, source: "bucket" };
      }
      const tmp = this.storage.tempPath();
      try {
        const r = await this.upstream.get(upstreamPath, { dest: tmp, verify: o.verify, bodyTimeoutMs: o.bodyTimeoutMs, maxBytes });
        if (r.kind !== "ok") return this.failure(r);
        const bytes = v ? await Bun.file(tmp).bytes() : undefined;
        const bad = bytes && v!.check(bytes);
        if (bad) return this.invalid(v!, upstreamPath, bad, bytes);
        return { kind: "file", file: this.storage.install(key, tmp, true), source: "upstream" };
      } finally {
        rmSync(tmp, { force: true });
      }
    });
  }

  /** `revalidate` skips the time-to-live (a client's `Cache-Control: no-cache`). */
  mutable(key: string, upstreamPath: string, ttlMs: number, revalidate: boolean, v: Validator): Promise<Answer> {
    const cur = this.storage.file(key);
    if (cur && !revalidate && Date.now() - cur.mtimeMs < ttlMs) {
      this.counters.cacheHitsLocal++;
      this.storage.noteUse(cur);
      return Promise.resolve({ kind: "file", file: cur, source: "local" });
    }
    return this.flights.do(`mutable:${key}`, async () => {
      const r = await this.upstream.get(upstreamPath, { maxBytes: v.maxBytes });
      const bad = r.kind === "ok" ? v.check(r.bytes) : undefined;
      if (r.kind === "ok") return bad ? this.invalid(v, upstreamPath, bad, r.bytes) : { kind: "file", file: this.storage.writeMutable(key, r.bytes), source: "upstream" };
      const answer = this.failure(r);
      const last = this.storage.file(key);
      return answer.kind === "failed" && last ? { kind: "file", file: last, source: "stale" } : answer;
    });
  }

  async passThrough(upstreamPath: string): Promise<Answer> {
    const r = await this.upstream.get(upstreamPath, { maxBytes: SMALL_MAX });
    return r.kind === "ok" ? { kind: "bytes", bytes: r.bytes, source: "upstream" } : this.failure(r);
  }

  /** An upstream answer that failed its check: counted, logged once per kind, served uncached. */
  private invalid(v: Validator, path: string, reason: string, bytes: Uint8Array): Answer {
    this.counters.invalidUpstream++;
    if (!this.warned.has(v.what)) this.log.warn(`[modproxy] upstream ${path}: ${reason}; passed through uncached (further invalid ${v.what} answers are only counted in gocache_modproxy_invalid_upstream_total)`);
    this.warned.add(v.what);
    return { kind: "bytes", bytes, source: "invalid" };
  }

  private async checkBucketCopy(v: Validator, tmp: string): Promise<string | undefined> {
    const bad = v.check(await Bun.file(tmp).bytes());
    if (bad) this.counters.invalidBucket++;
    return bad;
  }

  private localHit(key: string): Answer | undefined {
    const file = this.storage.file(key);
    if (!file) return undefined;
    this.counters.cacheHitsLocal++;
    this.storage.noteUse(file);
    return { kind: "file", file, source: "local" };
  }

  private failure(r: { kind: "missing"; status: 404 | 410; text: string } | { kind: "failed"; reason: string; corrupt: boolean }): Answer {
    if (r.kind === "missing") return r;
    this.counters.upstreamErrors++;
    if (r.corrupt) this.counters.corruptDownloads++;
    return { kind: "failed", reason: r.reason };
  }
}
