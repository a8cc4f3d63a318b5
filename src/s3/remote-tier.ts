/**
 * The main thread's handle on the S3 worker. The worker is started on first
 * use (a warm local build never pays for it) and every call is a message:
 * the protocol loop never waits on the network for a write.
 */
import type { FetchOutcome, FromWorker, ToWorker, WorkerConfig } from "./messages.ts";
import type { UploadJob } from "../store/journal.ts";

export interface RemoteTierEvents {
  uploaded(actionId: string, outcome: "written" | "exists" | "gone", bytes: number): void;
  uploadFailed(actionId: string, kind: string, message: string, retryInMs: number): void;
  fatal(kind: string, message: string): void;
}

export class RemoteTier {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, (o: FetchOutcome) => void>();

  /** Where the worker's reports go; set by whoever owns the tier. */
  events: RemoteTierEvents = { uploaded() {}, uploadFailed() {}, fatal() {} };

  constructor(private readonly config: WorkerConfig) {}

  fetch(actionId: string): Promise<FetchOutcome> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send({ t: "fetch", id, actionId });
    });
  }

  upload(job: UploadJob): void {
    this.send({ t: "upload", job });
  }

  /** Stops the worker; fetches still waiting become errors (misses). */
  terminate(): void {
    this.worker?.terminate();
    this.worker = undefined;
    for (const resolve of this.waiting.values()) resolve({ error: { kind: "terminated", message: "[s3] worker stopped" } });
    this.waiting.clear();
  }

  private send(msg: ToWorker): void {
    if (!this.worker) {
      this.worker = new Worker(workerSpecifier());
      this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
      this.worker.onerror = (e) => {
        this.events.fatal("worker", `[s3] worker failed: ${e.message}`);
        this.terminate(); // fail waiting fetches (misses); a later call starts a new worker
      };
      this.worker.postMessage({ t: "init", config: this.config } satisfies ToWorker);
    }
    this.worker.postMessage(msg);
  }

  private receive(msg: FromWorker): void {
    switch (msg.t) {
      case "fetched": {
        const resolve = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        return resolve?.(msg.outcome);
      }
      case "uploaded": return this.events.uploaded(msg.actionId, msg.outcome, msg.bytes);
      case "uploadFailed": return this.events.uploadFailed(msg.actionId, msg.error.kind, msg.error.message, msg.retryInMs);
      case "fatal": return this.events.fatal(msg.error.kind, msg.error.message);
    }
  }
}

/**
 * In the compiled binary the worker is a second entrypoint embedded at
 * /$bunfs/root/s3/worker.js, which "./s3/worker.ts" names (see build.ts); from
 * source it sits beside this file.
 */
function workerSpecifier(): string {
  return import.meta.url.includes("$bunfs") ? "./s3/worker.ts" : new URL("./worker.ts", import.meta.url).href;
}
