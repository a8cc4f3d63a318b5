/**
 * Trimming of the module proxy's local copy (`<cache-dir>/modproxy/`): by
 * --expiry (with the build cache's trim in `serve`) and by
 * --modproxy-max-size (on the proxy's own timer; --max-size bounds the build
 * cache only). A file's use time is the later of its mtime (when it was
 * fetched: mutable files' freshness depends on it, so it is never touched)
 * and its atime, which the proxy sets when it serves the file (see
 * ModStorage.noteUse; relatime mounts would otherwise leave atime stale).
 * Over the size cap, the least recently used files go first; nothing used
 * within PROTECT_MS goes, whatever the limits say. What is removed is
 * fetched again on its next use, from the bucket or upstream.
 *
 * Only regular files and directories below the root are looked at (lstat):
 * a symlink is neither followed, descended into, counted nor removed, so
 * nothing outside the root is ever deleted. In-flight downloads (`tmp/`)
 * are ModStorage's business.
 */
import { lstatSync, readdirSync, rmdirSync, unlinkSync, type Dirent } from "node:fs";
import { join } from "node:path";
import { describeError, type Logger } from "../log.ts";
import { PROTECT_MS } from "../store/trim.ts";

/** Where the module proxy keeps its files under a cache directory. */
export const moduleCacheRoot = (cacheDir: string) => join(cacheDir, "modproxy");

export interface ModTrimOptions {
  root: string;
  /** Remove files unused for this long; 0: no expiry. */
  expiryMs: number;
  /** Then remove least recently used files until at most this many bytes remain; 0 or absent: no cap. */
  maxSizeBytes?: number;
  now?: number;
}

export interface ModTrimResult {
  removedFiles: number;
  removedBytes: number;
  remainingBytes: number;
}

interface Entry { path: string; size: number; used: number }

/** The regular files below `dir`, not following symlinks; `tmp/` at the top is skipped. */
function collect(dir: string, top: boolean, out: Entry[]): void {
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) {
    if (top && name === "tmp") continue;
    const path = join(dir, name);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st?.isDirectory()) collect(path, false, out);
    else if (st?.isFile()) out.push({ path, size: st.size, used: Math.max(st.atimeMs, st.mtimeMs) });
  }
}

/** Removes the empty directories below `dir` (not `dir` itself, not `tmp/`); whether `dir` is left empty. */
function prune(dir: string, top: boolean): boolean {
  let entries: Dirent[];
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return false; }
  let empty = true;
  for (const d of entries) {
    // Dirent types come from lstat semantics: a symlink to a directory is not a directory here.
    if (!(top && d.name === "tmp") && d.isDirectory() && prune(join(dir, d.name), false)) {
      try { rmdirSync(join(dir, d.name)); continue; } catch { /* a download may have just created it */ }
    }
    empty = false;
  }
  return empty;
}

export function trimModuleCache(opts: ModTrimOptions): ModTrimResult {
  const now = opts.now ?? Date.now();
  const files: Entry[] = [];
  collect(opts.root, true, files);
  const protectedFile = (f: Entry) => now - f.used <= PROTECT_MS;
  const expired = (f: Entry) => opts.expiryMs > 0 && !protectedFile(f) && now - f.used > opts.expiryMs;
  const victims = files.filter(expired);
  const kept = files.filter((f) => !expired(f)).sort((a, b) => a.used - b.used);
  let total = kept.reduce((n, f) => n + f.size, 0);
  const cap = opts.maxSizeBytes ?? 0;
  for (const f of kept) {
    if (cap <= 0 || total <= cap || protectedFile(f)) break; // oldest first: the rest is newer still
    victims.push(f);
    total -= f.size;
  }
  const result: ModTrimResult = { removedFiles: 0, removedBytes: 0, remainingBytes: files.reduce((n, f) => n + f.size, 0) };
  for (const f of victims) {
    try {
      unlinkSync(f.path);
      result.removedFiles++;
      result.removedBytes += f.size;
      result.remainingBytes -= f.size;
    } catch { /* gone already, or not ours to remove */ }
  }
  prune(opts.root, true);
  return result;
}

/** Runs trimModuleCache once, saying what it removed (or why it failed) in the log; never throws. */
export function trimModuleCacheLogged(opts: Omit<ModTrimOptions, "now"> & { log: Logger }): void {
  try {
    const r = trimModuleCache(opts);
    if (r.removedFiles > 0) opts.log.info(`trim: module proxy: removed ${r.removedFiles} files (${r.removedBytes} bytes); ${r.remainingBytes} bytes remain`);
  } catch (err) {
    opts.log.warn(`[modproxy] trim of ${opts.root} failed: ${describeError(err)}`);
  }
}

/** Runs trimModuleCache every `everyMs` (timer unref'd); returns a function that stops it. */
export function scheduleModuleTrim(opts: Omit<ModTrimOptions, "now"> & { everyMs: number; log: Logger }): () => void {
  const run = () => trimModuleCacheLogged(opts);
  const timer = setInterval(run, opts.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
