/**
 * The main thread's handle on the remote worker. The worker is started on first
 * use (a warm local build never pays for it) and every call is a message:
 * the protocol loop never waits on the network for a write.
 */
import type { FetchOutcome, FromWorker, PackedEntry, SessionManifest, ToWorker, UploadOutcome, WorkerConfig } from "./messages.ts";
import type { ActionRecord, Mapping } from "../../store/store.ts";

export interface WorkerEvents {
  /** `bytes`: the output's size when written; `stored`: what the bucket holds for it (compressed, or raw). */
  uploaded(actionId: string, outcome: UploadOutcome, bytes: number, stored: number): void;
  uploadFailed(actionId: string, kind: string, message: string, retryInMs: number): void;
  manifestFound(session: number, key: string, entries: number): void;
  /** `wire`: the pack's size in the bucket (what was downloaded). */
  packFound(session: number, entries: PackedEntry[], bytes: number, wire: number): void;
  /** `record`: the installed entry's action record, which the main thread keeps (the worker writes objects only). */
  prefetched(session: number, actionId: string, bytes: number, wire: number, record: ActionRecord): void;
  /** Signed mode: a record read from the bucket that is not trusted (treated as a miss). */
  untrusted(verdict: "unsigned" | "bad-signature", what: string): void;
  warn(kind: string, message: string): void;
  fatal(kind: string, message: string): void;
}

export type SessionDone = Extract<FromWorker, { t: "sessionDone" }>;

export class WorkerHandle {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, (o: FetchOutcome) => void>();

  private readonly ending = new Map<number, (d: SessionDone) => void>();

  /** `events`: where the worker's reports go. */
  constructor(
    private readonly config: WorkerConfig,
    private readonly events: WorkerEvents,
  ) {}

  fetch(actionId: string, session: number): Promise<FetchOutcome> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send({ t: "fetch", id, session, actionId });
    });
  }

  /** Ends a session in the worker (stops its prefetch, writes its manifest if given). */
  endSession(session: number, manifest?: SessionManifest): Promise<SessionDone> {
    // A session that needs no manifest and never started the worker has nothing to end there.
    if (!this.worker && !manifest) return Promise.resolve({ t: "sessionDone", session });
    return new Promise((resolve) => {
      this.ending.set(session, resolve);
      this.send({ t: "sessionEnd", session, manifest });
    });
  }

  upload(job: Mapping): void {
    this.send({ t: "upload", job });
  }

  /** Stops the worker; fetches still waiting become errors (misses). */
  terminate(): void {
    this.worker?.terminate();
    this.worker = undefined;
    for (const resolve of this.waiting.values()) resolve({ error: { kind: "terminated", message: "[remote] worker stopped" } });
    this.waiting.clear();
    for (const [session, resolve] of this.ending) resolve({ t: "sessionDone", session, error: { kind: "terminated", message: "[remote] worker stopped" } });
    this.ending.clear();
  }

  /** True once the worker has been started (and not terminated). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /**
   * Starts the worker now rather than on first use: for a cache that is
   * sure to miss locally (an empty directory), so that the first get does
   * not wait for the worker to load.
   */
  start(): Worker {
    if (!this.worker) {
      this.worker = new Worker(workerSpecifier());
      this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
      this.worker.onerror = (e) => {
        this.events.fatal("worker", `[remote] worker failed: ${e.message}`);
        this.terminate(); // fail waiting fetches (misses); a later call starts a new worker
      };
      this.worker.postMessage({ t: "init", config: this.config } satisfies ToWorker);
    }
    return this.worker;
  }

  private send(msg: ToWorker): void {
    this.start().postMessage(msg);
  }

  private receive(msg: FromWorker): void {
    switch (msg.t) {
      case "fetched": {
        const resolve = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        return resolve?.(msg.outcome);
      }
      case "uploaded": return this.events.uploaded(msg.actionId, msg.outcome, msg.bytes, msg.stored);
      case "uploadFailed": return this.events.uploadFailed(msg.actionId, msg.error.kind, msg.error.message, msg.retryInMs);
      case "manifestFound": return this.events.manifestFound(msg.session, msg.key, msg.entries);
      case "packFound": return this.events.packFound(msg.session, msg.entries, msg.bytes, msg.wire);
      case "prefetched": return this.events.prefetched(msg.session, msg.actionId, msg.bytes, msg.wire, msg.record);
      case "sessionDone": {
        const resolve = this.ending.get(msg.session);
        this.ending.delete(msg.session);
        return resolve?.(msg);
      }
      case "untrusted": return this.events.untrusted(msg.verdict, msg.what);
      case "warn": return this.events.warn(msg.kind, msg.message);
      case "fatal": return this.events.fatal(msg.error.kind, msg.error.message);
    }
  }
}

/**
 * In the compiled binary the worker is a second entrypoint embedded at
 * /$bunfs/root/remote/worker/worker.js, which "./remote/worker/worker.ts"
 * names (see build.ts); from source it sits beside this file.
 */
function workerSpecifier(): string {
  return import.meta.url.includes("$bunfs") ? "./remote/worker/worker.ts" : new URL("./worker.ts", import.meta.url).href;
}
