/**
 * Fault-in of one entry from the bucket into the local store, in one round
 * trip where possible: our `ax` record (which carries small outputs inline)
 * and the tailscale-compatible `action` record are asked for at once, in
 * every namespace (namespaces.ts; signed mode: only a signed ax record
 * counts, CacheBucket.getRecord); a large output follows immediately, from
 * the namespace the record is in. Nothing is installed unless its SHA-256
 * equals its output ID. Runs in the worker; installs objects only (the
 * main thread holds the action records).
 */
import { closeSync, lstatSync, unlinkSync } from "node:fs";
import { openTemp, publish, sha256Hex, type LocalStore } from "../../store/local.ts";
import { digestMismatch, installVerified, localFailure, sizeMismatch } from "../../store/install.ts";
import type { Mapping } from "../../store/store.ts";
import { LocalWriteError } from "../../blob/port.ts";
import { CorruptObjectError, PACK_ENTRY_MAX, type CacheBucket, type Encoding } from "../format/bucket.ts";
import type { FetchOutcome } from "./messages.ts";
import type { Namespaces } from "./namespaces.ts";

/** Objects larger than this (or of unknown size) are streamed to a file rather than read into memory. */
const STREAM_OVER = PACK_ENTRY_MAX;

export async function fetchEntry(namespaces: Namespaces, local: LocalStore, actionId: string): Promise<FetchOutcome> {
  const found = await namespaces.findRecord(actionId);
  if (!found) return { miss: "no-action" };
  const { bucket, record } = found;
  return install(bucket, local, { actionId, outputId: record.outputId, size: record.size, timeNanos: record.timeNanos }, { inline: record.inline, prefer: record.encoding });
}

/**
 * Installs an entry whose record is known (from a record or a manifest);
 * fetches the output unless present, asking first for the form `prefer`
 * (default: the bucket's own).
 */
export async function install(bucket: CacheBucket, local: LocalStore, e: Mapping, o: { inline?: Uint8Array; prefer?: Encoding } = {}): Promise<FetchOutcome> {
  const present = presentObject(local, e);
  if (present) return present;
  const prefer = o.prefer ?? bucket.encoding;
  if (!o.inline && (e.size > STREAM_OVER || e.size < 0)) return download(bucket, local, e, prefer);
  let got;
  try {
    got = o.inline ? { value: o.inline, wire: 0 } : await bucket.outputs.get(e.outputId, e.size, prefer);
  } catch (err) {
    if (err instanceof CorruptObjectError) return { miss: "digest-mismatch", detail: err.message, outputId: e.outputId };
    throw err;
  }
  if (!got) return { miss: "no-output", detail: e.outputId };
  const outcome = installVerified(local, e, got.value);
  return "hit" in outcome ? { ...outcome, wire: got.wire } : outcome;
}

/**
 * The entry's object when it is already here and right. The record comes
 * from the bucket, so a size that disagrees with the file proves nothing by
 * itself: the file is checked (LocalStore.verifiedObject), and only a file
 * whose SHA-256 is not its name is removed (the caller then fetches it
 * again). A good file with a wrong record is kept and the entry is a miss: a
 * bucket must never be able to delete what a build uses. Something that is
 * not a regular file (a directory, a link) stays where it is: a miss.
 * Undefined: nothing (right) here, fetch it.
 */
function presentObject(local: LocalStore, e: Mapping): FetchOutcome | undefined {
  const st = lstatSync(local.layout.objectPath(e.outputId), { throwIfNoEntry: false });
  if (!st) return undefined;
  const hit: FetchOutcome = { hit: { outputId: e.outputId, size: st.size, timeNanos: e.timeNanos }, bytes: 0 };
  if (st.isFile() && st.size === e.size) return hit;
  if (!st.isFile()) return { miss: "no-output", detail: `${e.outputId}: not a regular file here` };
  const bytes = local.verifiedObject(e.outputId);
  if (typeof bytes === "string") return undefined; // removed as damaged (or gone meanwhile)
  return e.size < 0 ? hit : { miss: "digest-mismatch", detail: `the bucket's record says output ${e.outputId} is ${e.size} bytes; it is ${bytes.length}` };
}

/** Streams the output into a temporary file beside its final name and publishes it only if its SHA-256 is the output ID. */
async function download(bucket: CacheBucket, local: LocalStore, e: Mapping, prefer: Encoding): Promise<FetchOutcome> {
  const finalPath = local.layout.objectPath(e.outputId);
  let tmp;
  try {
    tmp = openTemp(finalPath, 0o755); // the mode stays: the download truncates, it does not recreate
    closeSync(tmp.fd);
  } catch (err) {
    return localFailure(e, err);
  }
  let published = false;
  try {
    const got = await bucket.outputs.getToFile(e.outputId, tmp.path, e.size, prefer, `${tmp.path.slice(0, -".tmp".length)}.zst.tmp`);
    if (got === undefined) return { miss: "no-output", detail: e.outputId };
    const size = got.value;
    // Mapped, not read: the bytes are in the page cache already.
    const bad = sizeMismatch(e, size) ?? digestMismatch(e, sha256Hex(size > 0 ? Bun.mmap(tmp.path) : new Uint8Array(0)));
    if (bad) return bad;
    publish(tmp.path, finalPath, local.fsync);
    published = true;
    return { hit: { outputId: e.outputId, size, timeNanos: e.timeNanos }, bytes: size, wire: got.wire };
  } catch (err) {
    if (err instanceof LocalWriteError) return localFailure(e, err); // writing the file failed, not the request
    if (err instanceof CorruptObjectError) return { miss: "digest-mismatch", detail: err.message, outputId: e.outputId };
    throw err;
  } finally {
    if (!published) try { unlinkSync(tmp.path); } catch { /* never written */ }
  }
}
