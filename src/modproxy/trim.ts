/**
 * Trimming of the module proxy's local copy (`<cache-dir>/modproxy/`) by
 * --expiry, alongside the build cache's trim in `serve`. A file's use time
 * is the later of its mtime (when it was fetched: mutable files' freshness
 * depends on it, so it is never touched) and its atime, which the proxy sets
 * when it serves the file (see ModStorage.noteUse; relatime mounts would
 * otherwise leave atime stale). What is removed is fetched again on its
 * next use, from the bucket or upstream. --max-size bounds the build cache
 * only. In-flight downloads (`tmp/`) are ModStorage's business.
 */
import { readdirSync, rmdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { PROTECT_MS } from "../store/trim.ts";

/** Where the module proxy keeps its files under a cache directory. */
export const moduleCacheRoot = (cacheDir: string) => join(cacheDir, "modproxy");

export interface ModTrimResult {
  removedFiles: number;
  removedBytes: number;
  remainingBytes: number;
}

export function trimModuleCache(opts: { root: string; expiryMs: number; now?: number }): ModTrimResult {
  const now = opts.now ?? Date.now();
  const result: ModTrimResult = { removedFiles: 0, removedBytes: 0, remainingBytes: 0 };
  const limit = Math.max(opts.expiryMs, PROTECT_MS);
  const walk = (dir: string, top: boolean): boolean => {
    let names: string[];
    try { names = readdirSync(dir); } catch { return false; }
    let empty = true;
    for (const name of names) {
      if (top && name === "tmp") { empty = false; continue; }
      const path = join(dir, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) {
        if (walk(path, false)) {
          try { rmdirSync(path); } catch { empty = false; } // a download may have just created it
        } else empty = false;
        continue;
      }
      if (opts.expiryMs > 0 && now - Math.max(st.atimeMs, st.mtimeMs) > limit) {
        try {
          unlinkSync(path);
          result.removedFiles++;
          result.removedBytes += st.size;
          continue;
        } catch { /* gone already, or not ours to remove */ }
      }
      empty = false;
      result.remainingBytes += st.size;
    }
    return empty;
  };
  walk(opts.root, true);
  return result;
}
