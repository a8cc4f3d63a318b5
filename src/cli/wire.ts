/** Builds the cache a session talks to from the Config: local only, or local with a bucket behind it. */
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { LocalStore } from "../store/local.ts";
import type { Cache } from "../store/store.ts";

export interface Wired {
  cache: Cache;
  local: LocalStore;
  /** Work that must not delay the capability message (resuming journaled uploads). */
  afterStart(): void;
}

/** The remote tier's modules are loaded only with a bucket: a local-only go command never parses them. */
export async function wireCache(config: Config, log: Logger, metrics: Metrics): Promise<Wired> {
  const local = new LocalStore({ dir: config.cacheDir, fsync: config.fsync });
  metrics.register("local", () => ({ ...local.counters }));
  if (!config.bucket) return { cache: local, local, afterStart() {} };
  const { openRemoteTier } = await import("../remote/open.ts");
  const tiered = openRemoteTier({ ...config, local, blob: config.bucket, log });
  metrics.register("remote", () => ({ ...tiered.counters }));
  metrics.register("remote", () => ({ ...tiered.uploads.counters }), ["uploadQueue"]);
  metrics.register("remote", () => ({ compressionRatio: tiered.compressionRatio }), ["compressionRatio"]);
  return { cache: tiered, local, afterStart: () => tiered.afterStart() };
}
