/**
 * Opens the store a spec names. Each backend is imported here, on first
 * use only: nothing of any service sits on the protocol loop's start-up
 * path, and a build that never needs the bucket never loads it.
 */
import type { BackendOptions, BlobStore, OpenOptions } from "../blob/port.ts";
import type { BlobSpec } from "../blob/spec.ts";

export async function openBlobStore(spec: BlobSpec, opts: OpenOptions = {}): Promise<BlobStore> {
  const o: BackendOptions = { timeoutMs: opts.timeoutMs ?? 120_000, env: opts.env ?? process.env, listPageSize: opts.listPageSize ?? 1000 };
  switch (spec.backend) {
    case "s3": return (await import("./s3/store.ts")).openS3(spec, o);
    case "gcs": return (await import("./gcs/store.ts")).openGcs(spec, o);
    case "azure": return (await import("./azure/store.ts")).openAzure(spec, o);
  }
}
