/**
 * Where the module proxy keeps what it fetched. Everything is addressed by
 * a storage key, a relative path built only from checked, case-encoded
 * (hence lower-case) elements:
 *
 *   module/<escaped module>/@v/<escaped version>.info|.mod|.zip   immutable
 *   module/<escaped module>/@v/<escaped query>.info                mutable
 *   module/<escaped module>/@v/list, module/<escaped module>/@latest   mutable
 *   sumdb/<name>/lookup/<escaped module>@<escaped version>          immutable
 *   sumdb/<name>/tile/<H>/<L>/<K>                                  immutable
 *   sumdb/<name>/latest                                            mutable
 *
 * Local copy: `<cache-dir>/modproxy/<key>`, written under a temporary name
 * in `<cache-dir>/modproxy/tmp/` and renamed into place, so a reader never
 * sees a partial file. A mutable file is the last good answer; its mtime
 * is when it was fetched. Immutable files are also written back to the
 * bucket (unless read-only) under `[<prefix>/]<key>` and read from it on a
 * local miss. Bucket trouble is a miss plus one warning per kind of failure,
 * and pauses bucket reads for a while; it never fails a request.
 */
import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describeError, type Logger } from "../log.ts";
import type { ModBucket } from "./bucket.ts";
import { moduleCacheRoot } from "./trim.ts";

export interface StorageOptions {
  /** The cache directory; files go below `<dir>/modproxy/`. */
  dir: string;
  bucket?: ModBucket;
  readOnly?: boolean;
  log: Logger;
}

export interface StoredFile { path: string; size: number; mtimeMs: number; atimeMs: number }

/** Served files whose last recorded use is older than this get it refreshed (what trimming orders by). */
const NOTE_USE_AFTER_MS = 10 * 60 * 1000;

const BUCKET_PAUSE_MS = 30_000;
let tmpSeq = 0;

export class ModStorage {
  readonly root: string;
  private readonly tmp: string;
  private readonly uploads = new Set<Promise<void>>();
  private readonly warned = new Set<string>();
  private bucketPausedUntil = 0;

  constructor(private readonly opts: StorageOptions) {
    this.root = moduleCacheRoot(opts.dir);
    this.tmp = join(this.root, "tmp");
    mkdirSync(this.tmp, { recursive: true });
    const stale = Date.now() - 3_600_000; // temporary files of a process killed mid-download
    for (const name of readdirSync(this.tmp)) {
      try {
        if (lstatSync(join(this.tmp, name)).mtimeMs < stale) rmSync(join(this.tmp, name), { force: true });
      } catch { /* gone already */ }
    }
  }

  get hasBucket(): boolean {
    return this.opts.bucket !== undefined;
  }

  /** The local file for `key`, if there is one: a regular file (a symlink there is a miss, and is replaced on install). */
  file(key: string): StoredFile | undefined {
    try {
      const st = lstatSync(join(this.root, key));
      return st.isFile() ? { path: join(this.root, key), size: st.size, mtimeMs: st.mtimeMs, atimeMs: st.atimeMs } : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Records that a local file was served, in its atime (its mtime, the fetch
   * time, must stay): trimming keeps what is in use. Cheap: at most one
   * utimes per file per NOTE_USE_AFTER_MS.
   */
  noteUse(file: StoredFile): void {
    const now = Date.now();
    if (now - Math.max(file.atimeMs, file.mtimeMs) < NOTE_USE_AFTER_MS) return;
    try {
      utimesSync(file.path, now / 1000, file.mtimeMs / 1000);
    } catch { /* trimmed meanwhile: it is fetched again next time */ }
  }

  /** A fresh temporary file name next to the store (same file system, so rename is atomic). */
  tempPath(): string {
    return join(this.tmp, `${process.pid}-${++tmpSeq}-${Math.random().toString(36).slice(2, 8)}.tmp`);
  }

  /** Moves a complete temporary file into place; immutable files are also uploaded in the background. */
  install(key: string, tmp: string, immutable: boolean): StoredFile {
    const dest = join(this.root, key);
    mkdirSync(dirname(dest), { recursive: true });
    renameSync(tmp, dest);
    if (immutable && this.opts.bucket && !this.opts.readOnly) this.track(this.upload(key, dest));
    return this.file(key)!;
  }

  /** Writes a mutable file's new last good copy. */
  writeMutable(key: string, bytes: Uint8Array): StoredFile {
    const tmp = this.tempPath();
    writeFileSync(tmp, bytes);
    return this.install(key, tmp, false);
  }

  /**
   * Fetches an immutable file from the bucket into the local store. `verify`
   * may refuse the downloaded bytes, and an object over `maxBytes` is refused
   * unread: both are a miss, with a warning. Undefined on a miss.
   */
  async fromBucket(key: string, verify?: (tmp: string) => Promise<string | undefined>, maxBytes?: number): Promise<StoredFile | undefined> {
    const bucket = this.opts.bucket;
    if (!bucket || Date.now() < this.bucketPausedUntil) return undefined;
    const tmp = this.tempPath();
    try {
      const got = await bucket.download(key, tmp, maxBytes);
      if (got === false) return undefined;
      const bad = typeof got === "string" ? got : await verify?.(tmp);
      if (bad) {
        this.opts.log.warn(`[modproxy] bucket object ${bucket.keyOf(key)} refused: ${bad}`);
        return undefined;
      }
      return this.install(key, tmp, false);
    } catch (err) {
      this.bucketPausedUntil = Date.now() + BUCKET_PAUSE_MS;
      await this.warnOnce("read", err);
      return undefined;
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** Resolves when every upload started so far has finished (or failed). */
  async flush(): Promise<void> {
    while (this.uploads.size > 0) await Promise.all([...this.uploads]);
  }

  private async upload(key: string, path: string): Promise<void> {
    try {
      await this.opts.bucket!.upload(key, path);
    } catch (err) {
      await this.warnOnce("write", err);
    }
  }

  private track(p: Promise<void>): void {
    this.uploads.add(p);
    void p.finally(() => this.uploads.delete(p));
  }

  private async warnOnce(op: string, err: unknown): Promise<void> {
    const kind = `${op}:${this.opts.bucket!.errorKind(err)}`;
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.opts.log.warn(`${describeError(err)} (bucket ${op}s are skipped on failure; further ${kind} failures are not logged)`);
  }
}
