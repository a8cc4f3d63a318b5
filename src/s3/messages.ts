/** Messages between the protocol loop (main thread) and the S3 worker. */
import type { UploadJob } from "../store/journal.ts";

export interface WorkerConfig {
  bucket: string;
  region?: string;
  endpoint?: string;
  pathStyle: boolean;
  prefix: string;
  cacheDir: string;
  concurrency: number;
  uploadConcurrency: number;
}

export interface FailureInfo { kind: string; message: string }

export type ToWorker =
  | { t: "init"; config: WorkerConfig }
  | { t: "fetch"; id: number; actionId: string }
  | { t: "upload"; job: UploadJob };

export type FetchOutcome =
  | { hit: { outputId: string; size: number; timeNanos: bigint }; bytes: number }
  | { miss: "no-action" | "no-output" | "digest-mismatch"; detail?: string }
  | { error: FailureInfo };

export type FromWorker =
  | { t: "fetched"; id: number; outcome: FetchOutcome }
  | { t: "uploaded"; actionId: string; outcome: "written" | "exists" | "gone"; bytes: number }
  | { t: "uploadFailed"; actionId: string; error: FailureInfo; retryInMs: number }
  | { t: "fatal"; error: FailureInfo };
