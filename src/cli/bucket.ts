/** The bucket of a maintenance command, from the cache flags. */
import { UsageError, type Config } from "../config.ts";
import type { BlobStore } from "../blob/port.ts";
import type { CacheBucket } from "../remote/format/bucket.ts";

export async function openBucket(config: Config, command: string): Promise<{ blobs: BlobStore; bucket: CacheBucket }> {
  if (!config.bucket) throw new UsageError(`${command} needs --bucket (or GOCACHE_S3_BUCKET)`);
  const { openBlobStore } = await import("../backends/open.ts");
  const { CacheBucket } = await import("../remote/format/bucket.ts");
  const blobs = await openBlobStore(config.bucket);
  return { blobs, bucket: new CacheBucket({ blobs, prefix: config.prefix }) };
}
