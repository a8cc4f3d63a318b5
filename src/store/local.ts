/**
 * The local tier: a content-addressed store on disk (layout in layout.ts).
 *
 * Safe for several processes sharing one directory: every file is written
 * under a unique temporary name in its final directory and renamed into
 * place, so a get (in this process or another) sees a complete file or none.
 * Gets are synchronous: a local hit is a read, a stat and a reply, the
 * cheapest path we have.
 */
import { isRenameBusy } from "../platform.ts";
import { closeSync, constants, existsSync, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, renameSync, statSync, unlinkSync, utimesSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { Layout, decodeRecord, encodeRecord } from "./layout.ts";
import type { ActionRecord, Cache, Entry, PutRequest, PutSink } from "./store.ts";
import { nowNanos } from "../protocol/messages.ts";
import { DeferredActions } from "./deferred-actions.ts";
import { uniqueTag } from "./identity.ts";

/** Objects used less recently than this get their mtime refreshed, which is what trimming orders by. */
export const TOUCH_AFTER_MS = 10 * 60 * 1000;

export interface LocalStoreOptions {
  /** The cache directory (created if missing). */
  dir: string;
  /** fsync every file before it is renamed into place, and its directory after (--fsync). */
  fsync?: boolean;
}

export interface LocalCounters {
  /** Entries found truncated or corrupt and treated as misses. */
  corrupt: number;
}

/** Longer than any action record (64 + 1 + 15 + 1 + 20 + 1 bytes). */
const recordBuf = Buffer.allocUnsafe(128);

export class LocalStore implements Cache {
  readonly layout: Layout;
  readonly counters: LocalCounters = { corrupt: 0 };
  /** Records of installed (not put) entries, written off this thread; see deferred-actions.ts. */
  readonly deferred: DeferredActions;

  readonly fsync: boolean;

  constructor(opts: LocalStoreOptions) {
    this.layout = new Layout(opts.dir);
    this.fsync = opts.fsync ?? false;
    this.deferred = new DeferredActions((id) => this.layout.actionPath(id), this.fsync);
  }

  /** The action's record, or undefined when absent or unreadable. */
  getAction(actionId: string): ActionRecord | undefined {
    const deferred = this.deferred.get(actionId);
    if (deferred) return deferred;
    // One small read into a shared buffer: this runs once per get, and a
    // whole-file read allocates far more than a record needs.
    let n: number;
    try {
      const fd = openSync(this.layout.actionPath(actionId), constants.O_RDONLY);
      try {
        n = readSync(fd, recordBuf, 0, recordBuf.length, 0);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new Error(`[local] read action ${actionId}`, { cause: err });
    }
    // A record never fills the buffer; one that does is corrupt.
    const record = n < recordBuf.length ? decodeRecord(recordBuf.toString("latin1", 0, n)) : undefined;
    if (!record) this.counters.corrupt++;
    return record;
  }

  /** Path of the object when present with the expected size (refreshing its use time); else undefined. */
  objectFile(outputId: string, size: number): string | undefined {
    const path = this.layout.objectPath(outputId);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (st.size !== size) {
      this.counters.corrupt++;
      return undefined;
    }
    if (Date.now() - st.mtimeMs > TOUCH_AFTER_MS) {
      const now = new Date();
      try { utimesSync(path, now, now); } catch { /* a concurrent trim or replace: harmless */ }
    }
    return path;
  }

  /** True when no action record was ever stored here (a fresh runner: every get will miss). */
  isEmpty(): boolean {
    return !existsSync(join(this.layout.root, "a"));
  }

  get(actionId: string): Entry | undefined {
    const record = this.getAction(actionId);
    if (!record) return undefined;
    const diskPath = this.objectFile(record.outputId, record.size);
    return diskPath ? { ...record, diskPath } : undefined;
  }

  put(req: PutRequest): ObjectWriter {
    return new ObjectWriter(this, req);
  }

  /** Writes an action record atomically. */
  putAction(actionId: string, record: ActionRecord): void {
    this.deferred.supersede(actionId, record);
    writeAtomic(this.layout.actionPath(actionId), encodeRecord(record.outputId, record.size, record.timeNanos), 0o644, this.fsync);
  }

  /** Installs verified bytes as an object (used when faulting in from another tier). */
  putObjectBytes(outputId: string, bytes: Uint8Array): string {
    const path = this.layout.objectPath(outputId);
    writeAtomic(path, bytes, 0o755, this.fsync);
    return path;
  }

  /**
   * The object's bytes (a private memory mapping: nothing is copied) when it
   * is a regular file whose SHA-256 is its name. "missing": nothing there.
   * "bad": something else is there; a regular file that fails its digest is
   * removed (so it is fetched or rebuilt), a link or directory is left alone.
   * Links are never followed.
   */
  verifiedObject(outputId: string): Uint8Array | "missing" | "bad" {
    const path = this.layout.objectPath(outputId);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return "missing";
    if (!st.isFile()) return "bad";
    const bytes = st.size > 0 ? Bun.mmap(path, { shared: false }) : new Uint8Array(0);
    if (sha256Hex(bytes) === outputId) return bytes;
    try { unlinkSync(path); } catch { /* replaced meanwhile */ }
    return "bad";
  }

  /** Writes the held records of installed entries (see deferred-actions.ts). */
  async close(): Promise<void> {
    await this.deferred.flush();
  }
}

let umask: number | undefined;
/** The process's umask, read once (we never change it): usually 022, which keeps 0755 as it is. */
function processUmask(): number {
  return (umask ??= process.umask());
}

/**
 * Opens a fresh temporary file beside `finalPath`, creating the directory on
 * first use. Its name carries the writer (identity.ts), so that trimming can
 * tell a killed writer's leftovers from a live one's.
 */
export function openTemp(finalPath: string, mode: number): { fd: number; path: string } {
  const path = `${finalPath}.${uniqueTag()}.tmp`;
  let fd: number;
  try {
    fd = openSync(path, "wx", mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    mkdirSync(dirname(finalPath), { recursive: true });
    fd = openSync(path, "wx", mode);
  }
  // The umask must not make cached binaries unrunnable; other files follow it.
  if (mode & 0o111 && mode & processUmask()) fchmodSync(fd, mode);
  return { fd, path };
}

/** Writes all of `bytes` (a write may take fewer than asked, e.g. on a nearly full disk); throws when the disk takes none. */
export function writeFully(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    const n = writeSync(fd, bytes, off, bytes.length - off);
    if (n <= 0) throw Object.assign(new Error("no progress writing (disk full?)"), { code: "ENOSPC" });
    off += n;
  }
}

export const sha256Hex = (bytes: Uint8Array): string => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

/** fsync(2) of a file or directory by path (--fsync). */
function syncPath(path: string): void {
  const fd = openSync(path, constants.O_RDONLY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Renames a finished temporary file into place; with `fsync` its data are
 * synced before and the directory entry after, so the file survives power
 * loss. The one way every writer of the store publishes a file.
 */
export function publish(tmpPath: string, finalPath: string, fsync: boolean, rename: (from: string, to: string) => void = renameSync, platform: NodeJS.Platform = process.platform): void {
  if (fsync) syncPath(tmpPath);
  for (let attempt = 1; ; attempt++) {
    try {
      rename(tmpPath, finalPath);
      break;
    } catch (err) {
      // Windows: the target is open elsewhere (a go command reading it). Try again briefly; then a file of the same
      // size already there may stay: an object of that name is those bytes (its name is its SHA-256), and a record
      // there is an older mapping of the same action, as valid as the new one.
      if (!isRenameBusy(err, platform)) throw err;
      if (attempt < 5) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 * attempt); continue; }
      if (lstatSync(finalPath, { throwIfNoEntry: false })?.size !== lstatSync(tmpPath).size) throw err;
      unlinkSync(tmpPath);
      return;
    }
  }
  if (fsync) syncPath(dirname(finalPath));
}

function writeAtomic(finalPath: string, data: string | Uint8Array, mode: number, fsync: boolean): void {
  const tmp = openTemp(finalPath, mode);
  try {
    writeFully(tmp.fd, typeof data === "string" ? Buffer.from(data, "latin1") : data);
    closeSync(tmp.fd);
    publish(tmp.path, finalPath, fsync);
  } catch (err) {
    try { closeSync(tmp.fd); } catch { /* already closed */ }
    try { unlinkSync(tmp.path); } catch { /* never created */ }
    throw new Error(`[local] write ${finalPath}`, { cause: err });
  }
}

/** Streams one put into a temporary file, hashing as it goes; publishes on a verified commit. */
export class ObjectWriter implements PutSink {
  private readonly hasher = new Bun.CryptoHasher("sha256");
  private fd = -1;
  private tmpPath = "";
  private written = 0;
  private failure: unknown;

  constructor(private readonly store: LocalStore, private readonly req: PutRequest) {
    try {
      const tmp = openTemp(store.layout.objectPath(req.outputId), 0o755);
      this.fd = tmp.fd;
      this.tmpPath = tmp.path;
    } catch (err) {
      this.failure = err;
    }
  }

  write(bytes: Uint8Array): void {
    this.written += bytes.length;
    if (this.failure || this.written > this.req.size) return;
    try {
      writeFully(this.fd, bytes);
      this.hasher.update(bytes);
    } catch (err) {
      this.failure = err; // e.g. ENOSPC: reported at commit, after the body is consumed
    }
  }

  commit(): Entry {
    const { actionId, outputId, size } = this.req;
    try {
      if (this.failure) throw new Error(`[local] write object ${outputId}`, { cause: this.failure });
      if (this.written !== size) throw new Error(`body is ${this.written} bytes, BodySize says ${size}`);
      const digest = this.hasher.digest("hex");
      if (digest !== outputId) throw new Error(`body SHA-256 ${digest} does not match OutputID ${outputId}`);
      closeSync(this.fd);
      this.fd = -1;
      const diskPath = this.store.layout.objectPath(outputId);
      publish(this.tmpPath, diskPath, this.store.fsync);
      this.tmpPath = "";
      const record = { outputId, size, timeNanos: nowNanos() };
      this.store.putAction(actionId, record);
      return { ...record, diskPath };
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  abort(): void {
    if (this.fd >= 0) {
      try { closeSync(this.fd); } catch { /* ignore */ }
      this.fd = -1;
    }
    if (this.tmpPath) {
      try { unlinkSync(this.tmpPath); } catch { /* already renamed or gone */ }
      this.tmpPath = "";
    }
  }
}
