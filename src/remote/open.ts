/**
 * The remote tier as one Cache: the local store in front, the bucket behind
 * it, the upload journal in the cache directory. Loaded only with a bucket
 * (a local-only go command never parses the remote tier's modules).
 */
import type { BlobSpec } from "../blob/spec.ts";
import type { Logger } from "../log.ts";
import type { LocalStore } from "../store/local.ts";
import { Journal } from "./journal.ts";
import { UseMarks } from "./usage.ts";
import { TieredCache } from "./tiered.ts";
import { WorkerHandle } from "./worker/handle.ts";
import { loadKeyFile } from "./trust/keys.ts";

/** Remote requests in flight for one session's manifest prefetch. */
const PREFETCH_CONCURRENCY = 32;

export interface RemoteTierOptions {
  local: LocalStore;
  blob: BlobSpec;
  prefix: string;
  /** Namespaces read after `prefix`, in order. */
  readPrefixes?: string[];
  /** The signing key file (trust/keys.ts); undefined: nothing is signed or checked. */
  signingKeyFile?: string;
  /** Nothing is written to the bucket (no journal either). */
  readOnly: boolean;
  /** Fault-ins in flight at once, and uploads. */
  concurrency: number;
  uploadConcurrency: number;
  /** Outputs smaller than this are not uploaded. */
  minUploadSize: number;
  /** How long a session's end and close wait for uploads. */
  uploadTimeoutMs: number;
  /** --fsync: the journal and installed files are synced. */
  fsync: boolean;
  /** How often a session's trace of use in the bucket is refreshed (usage.ts). */
  useIntervalMs: number;
  /** How uploads are stored (readers take both forms). */
  compression: "zstd" | "none";
  log: Logger;
}

/** Throws a KeyFileError (a clear message, never the secret) for a key file that is unsafe or malformed. */
export function openRemoteTier(o: RemoteTierOptions): TieredCache {
  const keys = o.signingKeyFile === undefined ? undefined : loadKeyFile(o.signingKeyFile, o.prefix, o.readOnly);
  if (keys) o.log.info(`signed mode: signing with key ${keys[0]!.id}; trusting records signed by ${keys.map((k) => k.id).join(", ")}`);
  const readPrefixes = o.readPrefixes ?? [];
  if (readPrefixes.length) o.log.info(`reading prefixes ${[o.prefix || "/", ...readPrefixes.map((p) => p || "/")].join(", ")} in order; writing ${o.prefix || "/"} only`);
  const workerConfig = {
    blob: o.blob,
    prefix: o.prefix,
    readPrefixes,
    keys,
    cacheDir: o.local.layout.cacheDir,
    concurrency: o.concurrency,
    uploadConcurrency: o.uploadConcurrency,
    prefetchConcurrency: PREFETCH_CONCURRENCY,
    readOnly: o.readOnly,
    fsync: o.fsync,
    compression: o.compression === "zstd" ? ("zstd" as const) : ("raw" as const),
  };
  return new TieredCache({
    local: o.local,
    worker: (events) => new WorkerHandle(workerConfig, events),
    journal: o.readOnly ? undefined : new Journal(o.local.layout.journalDir, { fsync: o.fsync }),
    uses: o.readOnly ? undefined : new UseMarks(o.local.layout.usesDir, o.useIntervalMs),
    minUploadSize: o.minUploadSize,
    uploadTimeoutMs: o.uploadTimeoutMs,
    log: o.log,
  });
}
