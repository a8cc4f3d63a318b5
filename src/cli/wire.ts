/** Builds the cache a session talks to from the Config: local only, or local with S3 behind it. */
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { LocalStore } from "../store/local.ts";
import type { Cache } from "../store/store.ts";
import type { RemoteTier } from "../s3/remote-tier.ts";
import { join } from "node:path";
import { existsSync } from "node:fs";

/** Remote requests in flight for one session's manifest prefetch. */
const PREFETCH_CONCURRENCY = 32;

export interface Wired {
  cache: Cache;
  local: LocalStore;
  /** The S3 worker's handle, with a bucket. */
  remote?: RemoteTier;
  /** Work that must not delay the capability message (resuming journaled uploads). */
  afterStart(): void;
}

/** The remote tier's modules are loaded only with a bucket: a local-only go command never parses them. */
export async function wireCache(config: Config, log: Logger, metrics: Metrics): Promise<Wired> {
  const local = new LocalStore({ dir: config.cacheDir, fsync: config.fsync });
  metrics.register("local", () => ({ ...local.counters }));
  if (!config.bucket) return { cache: local, local, afterStart() {} };
  const [{ Journal }, { TieredCache }, { RemoteTier }] = await Promise.all([import("../store/journal.ts"), import("../store/tiered.ts"), import("../s3/remote-tier.ts")]);

  const remote = new RemoteTier({
    bucket: config.bucket,
    region: config.region,
    endpoint: config.endpoint,
    pathStyle: config.pathStyle,
    prefix: config.prefix,
    cacheDir: config.cacheDir,
    concurrency: config.concurrency,
    uploadConcurrency: config.uploadConcurrency,
    prefetchConcurrency: PREFETCH_CONCURRENCY,
    readOnly: config.readOnly,
    fsync: config.fsync,
  });
  const journal = config.readOnly ? undefined : new Journal(join(local.layout.root, "journal"), { fsync: config.fsync });
  const tiered = new TieredCache({ local, remote, journal, minUploadSize: config.minUploadSize, uploadTimeoutMs: config.uploadTimeoutMs, log });
  metrics.register("remote", () => ({ ...tiered.counters }));
  metrics.register("remote", () => ({ ...tiered.uploads.counters }), ["uploadQueue"]);
  return {
    cache: tiered,
    local,
    remote,
    afterStart: () => {
      // No action record yet (a fresh runner): every get goes to the bucket.
      if (!existsSync(join(local.layout.root, "a"))) remote.start();
      tiered.resumeOrphans();
    },
  };
}
