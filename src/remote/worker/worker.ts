/**
 * The remote worker: every bucket request runs here, off the protocol loop,
 * and the backend (with any SDK it needs) is loaded only here, after the
 * capability message.
 *
 * fetch: see fetch.ts (verified; the object is installed here, its record
 * goes back to the main thread, which holds it until the session ends).
 * upload: output first (skipped when the bucket has it), then the
 * tailscale-compatible action record, then our `ax` record (with the output
 * inline when small); failures are retried with backoff until the main
 * thread ends the worker. Sessions: see prefetch.ts; at a session's end its
 * manifest is written. Reads span the namespaces (namespaces.ts); writes go
 * to the own prefix only. With keys, what is written is signed and what is
 * read is checked (CacheBucket); each record that is not trusted is
 * reported to the main thread, which counts it.
 */
declare var self: Worker;

import { failureLabel } from "../../blob/port.ts";
import { openBlobStore } from "../../backends/open.ts";
import { Limiter } from "./limit.ts";
import { fetchEntry } from "./fetch.ts";
import { SessionPrefetch } from "./prefetch.ts";
import { Namespaces } from "./namespaces.ts";
import { Keyring } from "../trust/sign.ts";
import type { FailureInfo, FetchOutcome, FromWorker, SessionManifest, ToWorker, WorkerConfig } from "./messages.ts";
import { INLINE_MAX, MANIFEST_WRITE_MAX, PACK_ENTRY_MAX, PACK_MAX, CacheBucket, type PackPart } from "../format/bucket.ts";
import { LocalStore, openTemp } from "../../store/local.ts";
import { closeSync } from "node:fs";
import type { Mapping } from "../../store/store.ts";
import { describeError } from "../../log.ts";

let config: WorkerConfig;
let bucket: Promise<CacheBucket> | undefined;
let namespaces: Promise<Namespaces> | undefined;
let local: LocalStore;
let fetches: Limiter;
let uploads: Limiter;
const sessions = new Map<number, SessionPrefetch>();

const post = (msg: FromWorker) => self.postMessage(msg);
const failure = (err: unknown): FailureInfo => ({ kind: failureLabel(err), message: describeError(err) });

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  switch (msg.t) {
    case "init": return init(msg.config);
    case "fetch": return void fetchFor(msg.session, msg.actionId).then((outcome) => post({ t: "fetched", id: msg.id, outcome }));
    case "upload": return void uploadWithRetry(msg.job, 0);
    case "sessionEnd": return void endSession(msg.session, msg.manifest);
  }
};

function init(c: WorkerConfig): void {
  config = c;
  local = new LocalStore({ dir: c.cacheDir, fsync: c.fsync });
  fetches = new Limiter(c.concurrency);
  uploads = new Limiter(c.uploadConcurrency);
  const keys = c.keys && new Keyring(c.keys);
  const trust = keys && { keys, rejected: (verdict: "unsigned" | "bad-signature", what: string) => post({ t: "untrusted", verdict, what }) };
  namespaces = openBlobStore(c.blob).then((blobs) => {
    const open = (prefix: string) => new CacheBucket({ blobs, prefix, encoding: c.compression, trust });
    return new Namespaces(open(c.prefix), c.readPrefixes.map(open));
  });
  bucket = namespaces.then((n) => n.own);
  bucket.catch((err) => post({ t: "fatal", error: failure(err) }));
}

async function sessionFor(id: number): Promise<SessionPrefetch> {
  const all = await namespaces!;
  // Looked up after the await: two fetches may both be first for a session.
  let s = sessions.get(id);
  if (!s) {
    s = new SessionPrefetch({ session: id, namespaces: all, local, concurrency: config.prefetchConcurrency, post });
    sessions.set(id, s);
  }
  return s;
}

async function fetchFor(sessionId: number, actionId: string): Promise<FetchOutcome> {
  try {
    const all = await namespaces!;
    const session = await sessionFor(sessionId);
    const pending = session.demand(actionId);
    if (pending) {
      const outcome = await pending;
      if ("hit" in outcome) return { ...outcome, prefetched: true };
    }
    session.probe(actionId);
    const outcome = await fetches.run(() => fetchEntry(all, local, actionId));
    noteCorrupt(outcome);
    return outcome;
  } catch (err) {
    return { error: failure(err) };
  }
}

/**
 * Outputs whose bucket copy failed its digest: the next upload of each
 * replaces it unconditionally (a conditional write would keep it for good).
 * Bounded: a bucket full of bad copies cannot grow it without end.
 */
const corruptInBucket = new Set<string>();
function noteCorrupt(outcome: FetchOutcome): void {
  if (!("miss" in outcome) || outcome.miss !== "digest-mismatch" || !outcome.outputId) return;
  if (corruptInBucket.size < 100_000) corruptInBucket.add(outcome.outputId);
}

async function endSession(id: number, manifest: SessionManifest | undefined): Promise<void> {
  const session = sessions.get(id);
  sessions.delete(id);
  session?.stop();
  if (!manifest || config.readOnly || manifest.entries.length === 0 || manifest.firstGets.length === 0) return post({ t: "sessionDone", session: id });
  try {
    const store = await bucket!;
    // Every reader (prefetch, gc) must be able to read it back: a session beyond the bound leaves its first entries only.
    // Cut in action order, not get order (which varies between runs), so that the same build keeps one manifest.
    const entries = manifest.entries.length > MANIFEST_WRITE_MAX ? [...manifest.entries].sort((a, b) => (a.actionId < b.actionId ? -1 : 1)).slice(0, MANIFEST_WRITE_MAX) : manifest.entries;
    if (entries !== manifest.entries) post({ t: "warn", kind: "manifest-size", message: `[remote] session used ${manifest.entries.length} entries; its manifest lists ${MANIFEST_WRITE_MAX} of them (the rest are not prefetched, and gc sees only their records' age)` });
    // A manifest of the same entries (the one this session came from, or another runner's) is only refreshed when stale.
    const { key, written, modifiedMs } = await store.refreshManifest(entries, manifest.firstGets, () => packParts(entries), manifest.maxAgeMs);
    post({ t: "sessionDone", session: id, manifestKey: key, written, traceMs: modifiedMs });
  } catch (err) {
    post({ t: "sessionDone", session: id, error: failure(err) });
  }
}

/** The small outputs of a manifest's entries that are in the local store, each once, within PACK_MAX. */
function packParts(entries: Mapping[]): PackPart[] {
  const parts: PackPart[] = [];
  const seen = new Set<string>();
  let total = 0;
  for (const e of entries) {
    if (e.size > PACK_ENTRY_MAX || seen.has(e.outputId) || total + e.size > PACK_MAX) continue;
    seen.add(e.outputId);
    // Read anyway, so checked: a damaged object goes into no pack (and is removed, to be fetched or rebuilt);
    // one trimmed meanwhile is fetched by prefetch on its own.
    const bytes = local.verifiedObject(e.outputId);
    if (typeof bytes === "string" || bytes.length !== e.size) continue;
    parts.push({ outputId: e.outputId, bytes });
    total += bytes.length;
  }
  return parts;
}

/** At most this many bytes of outputs are compressed in memory for uploads in flight at once (each frame is at most its output's size). */
const FRAMES_IN_MEMORY = 32 << 20;
let framesInMemory = 0;

/**
 * Uploads one journaled entry, verified first: the local object must have
 * the job's size and SHA-256 (the journal may be old or tampered with, the
 * file damaged); one that does not is removed and reported, never uploaded.
 * The hash reads a memory mapping (no copy in memory); a large output goes
 * up from that mapping when it is compressed within FRAMES_IN_MEMORY, else
 * streamed from its file, never read into memory.
 */
async function uploadWithRetry(job: Mapping, attempt: number): Promise<void> {
  try {
    const store = await bucket!;
    await uploads.run(async () => {
      const path = local.layout.objectPath(job.outputId);
      const body = local.verifiedObject(job.outputId);
      if (body === "missing") return post({ t: "uploaded", actionId: job.actionId, outcome: "gone", bytes: 0, stored: 0 });
      // A damaged file has been removed; a wrong size in the journal just skips the upload.
      if (body === "bad" || body.length !== job.size) return post({ t: "uploaded", actionId: job.actionId, outcome: "corrupt", bytes: 0, stored: 0 });
      const replace = corruptInBucket.delete(job.outputId);
      // Small outputs go up from the bytes in hand (the file's memory mapping), and so do large ones to be
      // compressed while the frames in flight stay within FRAMES_IN_MEMORY (one zstd call, no scratch file:
      // a cold build spent 2.1 s more CPU with zstd than without when every large output went through a
      // compressing stream into a scratch file, 1.4 s this way). The rest is streamed from the file (renamed
      // into place whole, never rewritten; compressed through a scratch file beside it).
      const inMemory = body.length <= INLINE_MAX || (store.encoding === "zstd" && framesInMemory + body.length <= FRAMES_IN_MEMORY);
      const held = inMemory && body.length > INLINE_MAX ? body.length : 0;
      framesInMemory += held;
      let put;
      try {
        put = await store.outputs.put(job.outputId, inMemory ? { bytes: body } : { file: path, tmp: store.encoding === "zstd" ? scratch(path) : "" }, { replace });
      } finally {
        framesInMemory -= held;
      }
      const { outcome, stored } = put;
      await store.putAction(job.actionId, { outputId: job.outputId, timeNanos: job.timeNanos });
      await store.putAx({ ...job, size: body.length }, body.length <= INLINE_MAX ? body : undefined);
      post({ t: "uploaded", actionId: job.actionId, outcome, bytes: outcome === "written" ? body.length : 0, stored });
    });
  } catch (err) {
    const retryInMs = Math.min(30_000, 500 * 2 ** attempt);
    post({ t: "uploadFailed", actionId: job.actionId, error: failure(err), retryInMs });
    setTimeout(() => void uploadWithRetry(job, attempt + 1), retryInMs);
  }
}

/**
 * A scratch file beside `path` for its compressed copy, named as every temp
 * file is (`<final name>.<writer tag>.tmp`), so that trim knows its writer
 * and removes one a killed worker left (removed by the upload otherwise).
 */
function scratch(path: string): string {
  const t = openTemp(path, 0o600);
  closeSync(t.fd);
  return t.path;
}
