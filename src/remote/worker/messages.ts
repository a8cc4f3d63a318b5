/** Messages between the protocol loop (main thread) and the remote worker. */
import type { BlobSpec } from "../../blob/spec.ts";
import type { Encoding } from "../format/layout.ts";
import type { InstallOutcome } from "../../store/install.ts";
import type { ActionRecord, Mapping } from "../../store/store.ts";
import type { TrustKey } from "../trust/keys.ts";

export interface WorkerConfig {
  /** The bucket, on its backend. */
  blob: BlobSpec;
  prefix: string;
  /** --read-prefix: namespaces read after `prefix`, in order (never written). */
  readPrefixes: string[];
  /** --signing-key-file's keys (the first signs); undefined: nothing is signed or checked. */
  keys?: TrustKey[];
  cacheDir: string;
  concurrency: number;
  uploadConcurrency: number;
  /** Remote requests in flight for one session's prefetch. */
  prefetchConcurrency: number;
  readOnly: boolean;
  /** --fsync: installed files are synced before they are renamed into place. */
  fsync: boolean;
  /** --compression: the form outputs, inline records and packs are stored in. */
  compression: Encoding;
}

export type UploadOutcome = "written" | "exists" | "gone" | "corrupt";

export interface FailureInfo { kind: string; message: string }

export type ToWorker =
  | { t: "init"; config: WorkerConfig }
  /** `session` identifies the go command's session (direct: 1; serve: one per connection). */
  | { t: "fetch"; id: number; session: number; actionId: string }
  | { t: "upload"; job: Mapping }
  /** The session ended: stop its prefetch; write its manifest when given. */
  | { t: "sessionEnd"; session: number; manifest?: SessionManifest };

/**
 * What a completed session leaves for the next build (and for gc: its trace
 * of use): its entries, filed under its first gets. A manifest of the same
 * entries already in the bucket is rewritten only when older than `maxAgeMs`.
 */
export interface SessionManifest { entries: Mapping[]; firstGets: string[]; maxAgeMs: number }

/** A manifest entry with its output's bytes as the pack holds them (not yet verified). */
export interface PackedEntry { entry: Mapping; bytes: Uint8Array }

/** An install's outcome (a digest mismatch names the output whose bucket copy failed its check), or a remote miss or failure. */
export type FetchOutcome =
  | Exclude<InstallOutcome, { hit: ActionRecord }>
  /** `bytes`: the output's size; `wire`: what was downloaded for it (compressed, or 0 when it came inline). */
  | { hit: ActionRecord; bytes: number; wire?: number; prefetched?: boolean }
  | { miss: "no-action" | "no-output" | "digest-mismatch"; detail?: string; outputId?: string }
  | { error: FailureInfo };

export type FromWorker =
  | { t: "fetched"; id: number; outcome: FetchOutcome }
  /** corrupt: the local object failed its check and was removed, not uploaded. */
  /** `stored`: bytes written to the bucket for the output (compressed, or raw with --compression none). */
  | { t: "uploaded"; actionId: string; outcome: UploadOutcome; bytes: number; stored: number }
  | { t: "uploadFailed"; actionId: string; error: FailureInfo; retryInMs: number }
  | { t: "manifestFound"; session: number; key: string; entries: number }
  | { t: "prefetched"; session: number; actionId: string; bytes: number; wire: number; record: ActionRecord }
  /** The manifest's pack: entries not yet local whose outputs it holds (unverified), for the main thread to install on demand. */
  | { t: "packFound"; session: number; entries: PackedEntry[]; bytes: number; wire: number }
  /** `written`: what was done to the manifest at `manifestKey` (absent: it was fresh, nothing written); `traceMs`: the time of the bucket's copy. */
  | { t: "sessionDone"; session: number; manifestKey?: string; written?: "new" | "refreshed"; traceMs?: number; error?: FailureInfo }
  /** Signed mode: a record that is not trusted (a miss); `what` names its key. */
  | { t: "untrusted"; verdict: "unsigned" | "bad-signature"; what: string }
  /** Something the user should hear about once (per kind), that changes no outcome. */
  | { t: "warn"; kind: string; message: string }
  | { t: "fatal"; error: FailureInfo };
