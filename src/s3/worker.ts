/**
 * The S3 worker: every network operation runs here, off the protocol loop,
 * and the SDK is loaded only here (after the capability message).
 *
 * fetch: action record, then output; the output's SHA-256 must equal the
 * output ID, else it is never installed. Installed locally object first,
 * record second, both atomically, so the main thread can answer a hit.
 * upload: output first (skipped when the bucket has it), record second;
 * failures are retried with backoff until the main thread ends the worker.
 */
declare var self: Worker;

import { existsSync } from "node:fs";
import { createS3Client, errorKind, resolveRegion } from "./client.ts";
import { Limiter } from "./limit.ts";
import type { FailureInfo, FetchOutcome, FromWorker, ToWorker, WorkerConfig } from "./messages.ts";
import { RemoteStore } from "../store/remote.ts";
import { LocalStore } from "../store/local.ts";
import type { UploadJob } from "../store/journal.ts";
import { describeError } from "../log.ts";

let remote: Promise<RemoteStore> | undefined;
let local: LocalStore;
let fetches: Limiter;
let uploads: Limiter;

const post = (msg: FromWorker) => self.postMessage(msg);
const failure = (err: unknown): FailureInfo => ({ kind: errorKind((err as Error)?.cause ?? err), message: describeError(err) });

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  switch (msg.t) {
    case "init": return init(msg.config);
    case "fetch": return void fetchEntry(msg.actionId).then((outcome) => post({ t: "fetched", id: msg.id, outcome }));
    case "upload": return void uploadWithRetry(msg.job, 0);
  }
};

function init(config: WorkerConfig): void {
  local = new LocalStore({ dir: config.cacheDir });
  fetches = new Limiter(config.concurrency);
  uploads = new Limiter(config.uploadConcurrency);
  remote = resolveRegion(config).then((region) => new RemoteStore({ client: createS3Client(config, region), bucket: config.bucket, prefix: config.prefix }));
  remote.catch((err) => post({ t: "fatal", error: failure(err) }));
}

async function fetchEntry(actionId: string): Promise<FetchOutcome> {
  try {
    const store = await remote!;
    return await fetches.run(async () => {
      const record = await store.getAction(actionId);
      if (!record) return { miss: "no-action" };
      let size: number;
      let bytes = 0;
      const existing = local.layout.objectPath(record.outputId);
      if (existsSync(existing)) {
        size = Bun.file(existing).size; // verified when it was written
      } else {
        const body = await store.getObject(record.outputId);
        if (!body) return { miss: "no-output", detail: record.outputId };
        const digest = new Bun.CryptoHasher("sha256").update(body).digest("hex");
        if (digest !== record.outputId) return { miss: "digest-mismatch", detail: `output ${record.outputId} has SHA-256 ${digest}` };
        local.putObjectBytes(record.outputId, body);
        size = body.length;
        bytes = body.length;
      }
      local.putAction(actionId, { outputId: record.outputId, size, timeNanos: record.timeNanos });
      return { hit: { outputId: record.outputId, size, timeNanos: record.timeNanos }, bytes };
    });
  } catch (err) {
    return { error: failure(err) };
  }
}

async function uploadWithRetry(job: UploadJob, attempt: number): Promise<void> {
  try {
    const store = await remote!;
    await uploads.run(async () => {
      const file = Bun.file(local.layout.objectPath(job.outputId));
      if (!(await file.exists())) return post({ t: "uploaded", actionId: job.actionId, outcome: "gone", bytes: 0 });
      const body = await file.bytes();
      const outcome = await store.putObject(job.outputId, body);
      await store.putAction(job.actionId, { outputId: job.outputId, timeNanos: job.timeNanos });
      post({ t: "uploaded", actionId: job.actionId, outcome, bytes: outcome === "written" ? body.length : 0 });
    });
  } catch (err) {
    const retryInMs = Math.min(30_000, 500 * 2 ** attempt);
    post({ t: "uploadFailed", actionId: job.actionId, error: failure(err), retryInMs });
    setTimeout(() => void uploadWithRetry(job, attempt + 1), retryInMs);
  }
}
