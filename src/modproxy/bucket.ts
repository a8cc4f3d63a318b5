/**
 * The module proxy's view of the bucket, on the same blob port (and so the
 * same backends) as the build cache: whole files by key, under
 * `[<prefix>/]<key>` where key is a storage key (see storage.ts), e.g.
 *
 *   [<prefix>/]module/<escaped module path>/@v/<escaped version>.info|.mod|.zip
 *   [<prefix>/]sumdb/<name>/lookup/<escaped module>@<escaped version>
 *   [<prefix>/]sumdb/<name>/tile/<H>/<L>/<K>
 *
 * The backend is opened on first use only, so `serve` without a bucket, or
 * one whose proxy is never asked, never loads it. A miss is `false`; other
 * failures throw with the key and the store's error as cause.
 */
import { TooLargeError, failureLabel, type BlobStore } from "../blob/port.ts";
import type { BlobSpec } from "../blob/spec.ts";

export interface ModBucketOptions {
  blob: BlobSpec;
  prefix: string;
}

/** Bound on an object whose caller gives none (.info, .mod, sumdb tiles and lookups are far smaller). */
const DEFAULT_MAX = 64 << 20;

export class ModBucket {
  private ready: Promise<BlobStore> | undefined;

  constructor(private readonly opts: ModBucketOptions) {}

  /** The bucket key of a storage key. */
  keyOf(key: string): string {
    return this.opts.prefix ? `${this.opts.prefix}/${key}` : key;
  }

  /**
   * Downloads `key` into `dest` (a temporary file): true when it did, false
   * when the bucket does not have it, and the reason (with `dest`
   * incomplete) when the object is refused unread or part-read: larger than
   * `maxBytes` (announced or streamed), or without a declared length. The
   * bucket is not trusted with our disk or memory.
   */
  async download(key: string, dest: string, maxBytes = DEFAULT_MAX): Promise<boolean | string> {
    try {
      const n = await (await this.store()).readToFile(this.keyOf(key), dest, Math.min(maxBytes, Number.MAX_SAFE_INTEGER));
      return n !== undefined;
    } catch (err) {
      if (err instanceof TooLargeError) return err.message; // this object is refused; any other failure pauses the bucket
      throw new Error(`[modproxy] bucket get ${this.keyOf(key)}`, { cause: err });
    }
  }

  /** Uploads the file at `path` as `key`, streamed (objects are immutable: a rewrite stores the same bytes). */
  async upload(key: string, path: string): Promise<void> {
    try {
      await (await this.store()).write(this.keyOf(key), Bun.file(path));
    } catch (err) {
      throw new Error(`[modproxy] bucket put ${this.keyOf(key)}`, { cause: err });
    }
  }

  /** A short label for a failure, to warn once per kind. */
  errorKind(err: unknown): string {
    return failureLabel(err);
  }

  destroy(): void {
    void this.ready?.then((s) => s.close(), () => {});
  }

  private store(): Promise<BlobStore> {
    if (!this.ready) {
      this.ready = import("../backends/open.ts").then((m) => m.openBlobStore(this.opts.blob));
      this.ready.catch(() => { this.ready = undefined; }); // a failed set-up is retried later
    }
    return this.ready;
  }
}
