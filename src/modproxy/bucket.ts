/**
 * The module proxy's view of the S3 bucket: whole files by key, under
 * `[<prefix>/]<key>` where key is a storage key (see storage.ts), e.g.
 *
 *   [<prefix>/]module/<escaped module path>/@v/<escaped version>.info|.mod|.zip
 *   [<prefix>/]sumdb/<name>/lookup/<escaped module>@<escaped version>
 *   [<prefix>/]sumdb/<name>/tile/<H>/<L>/<K>
 *
 * The AWS SDK is imported on first use only, so `serve` without a bucket
 * never loads it. A miss is `false`; other failures throw with the key and
 * the SDK error as cause.
 */
import { createReadStream, statSync } from "node:fs";
import type { S3Client } from "@aws-sdk/client-s3";
import { errorKind, isNotFound } from "../s3/errors.ts";
import { resolveRegion } from "../s3/io.ts";

export interface ModBucketOptions {
  bucket: string;
  region?: string;
  endpoint?: string;
  pathStyle: boolean;
  prefix: string;
}

type Sdk = typeof import("@aws-sdk/client-s3");

export class ModBucket {
  private ready: Promise<{ client: S3Client; sdk: Sdk }> | undefined;

  constructor(private readonly opts: ModBucketOptions) {}

  /** The bucket key of a storage key. */
  keyOf(key: string): string {
    return this.opts.prefix ? `${this.opts.prefix}/${key}` : key;
  }

  /**
   * Downloads `key` into `dest` (a temporary file); false when the bucket
   * does not have it, "too large" (and `dest` incomplete) when the object
   * announces or streams more than `maxBytes`: the bucket is not trusted
   * with our disk or memory.
   */
  async download(key: string, dest: string, maxBytes = Infinity): Promise<true | false | "too large"> {
    const { client, sdk } = await this.connect();
    try {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.opts.bucket, Key: this.keyOf(key) }));
      const body = out.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
      if ((out.ContentLength ?? 0) > maxBytes) {
        body?.destroy?.();
        return "too large";
      }
      const sink = Bun.file(dest).writer({ highWaterMark: 1 << 20 });
      let size = 0;
      try {
        for await (const chunk of body ?? []) {
          size += chunk.length;
          if (size > maxBytes) return "too large"; // leaving the loop ends the stream
          sink.write(chunk);
        }
      } finally {
        await sink.end();
      }
      if (out.ContentLength !== undefined && size !== out.ContentLength) throw new Error(`truncated: ${size} of ${out.ContentLength} bytes`);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw new Error(`[modproxy] bucket get ${this.keyOf(key)}`, { cause: err });
    }
  }

  /** Uploads the file at `path` as `key` (objects are immutable: a rewrite stores the same bytes). */
  async upload(key: string, path: string): Promise<void> {
    const { client, sdk } = await this.connect();
    try {
      const size = statSync(path).size;
      const body = size <= 8 << 20 ? await Bun.file(path).bytes() : createReadStream(path);
      await client.send(new sdk.PutObjectCommand({ Bucket: this.opts.bucket, Key: this.keyOf(key), Body: body, ContentLength: size }));
    } catch (err) {
      throw new Error(`[modproxy] bucket put ${this.keyOf(key)}`, { cause: err });
    }
  }

  /** A short label for a failure, to warn once per kind. */
  errorKind(err: unknown): string {
    return errorKind((err as Error).cause ?? err);
  }

  destroy(): void {
    void this.ready?.then(({ client }) => client.destroy(), () => {});
  }

  private connect(): Promise<{ client: S3Client; sdk: Sdk }> {
    this.ready ??= (async () => {
      const [sdk, { createS3Client }] = await Promise.all([import("@aws-sdk/client-s3"), import("../s3/client.ts")]);
      const s3opts = { bucket: this.opts.bucket, region: this.opts.region, endpoint: this.opts.endpoint, pathStyle: this.opts.pathStyle };
      const region = await resolveRegion(s3opts);
      return { client: createS3Client(s3opts, region), sdk };
    })();
    this.ready.catch(() => { this.ready = undefined; }); // a failed set-up is retried later
    return this.ready;
  }
}
