/**
 * Trimming of the local store (--expiry, --max-size), run at exit and at most
 * once per trim interval (recorded in v1/trim.txt, shared by all processes).
 *
 * Use time is the object's mtime, refreshed by gets (see TOUCH_AFTER_MS).
 * Nothing used within PROTECT_MS is removed, whatever the limits say: another
 * go command may have been handed that file and not yet opened it.
 *
 * Nothing here follows a symbolic link: a shard directory or file that is a
 * link is left alone (never read, never counted, never deleted), so a link
 * planted in the cache cannot make trimming delete files elsewhere.
 * Temporary files are removed when their writer is provably gone (see
 * identity.ts) or when they are older than STALE_TMP_MS.
 */
import { lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeRecord, type Layout } from "./layout.ts";
import { parseWriter, uniqueTag, writerGone } from "./identity.ts";
import { describeError, type Logger } from "../log.ts";

export const PROTECT_MS = 2 * 60 * 60 * 1000;
/** Temporary files older than this belong to a killed writer. */
const STALE_TMP_MS = 60 * 60 * 1000;

export interface TrimOptions {
  layout: Layout;
  expiryMs: number;
  maxSizeBytes: number;
  now?: number;
  /** Count what would be removed and remove nothing (stats). */
  dryRun?: boolean;
}

export interface TrimResult {
  removedObjects: number;
  removedActions: number;
  removedBytes: number;
  remainingBytes: number;
}

/** True when a trim is configured and the last one is older than `intervalMs`. */
export function trimDue(layout: Layout, opts: { expiryMs: number; maxSizeBytes: number; intervalMs: number }, now = Date.now()): boolean {
  if (opts.expiryMs <= 0 && opts.maxSizeBytes <= 0) return false;
  if (opts.intervalMs <= 0) return true;
  try {
    const last = Number(readFileSync(layout.trimStamp, "utf8").trim()) * 1000;
    return !(now - last < opts.intervalMs);
  } catch {
    return true;
  }
}

interface FileInfo { path: string; size: number; mtime: number }

export function trimStore(opts: TrimOptions): TrimResult {
  const now = opts.now ?? Date.now();
  const remove = opts.dryRun ? () => true : removeFile;
  const result: TrimResult = { removedObjects: 0, removedActions: 0, removedBytes: 0, remainingBytes: 0 };
  const objects: FileInfo[] = [];
  for (const dir of realDirs(opts.layout, "o")) {
    for (const f of scan(dir)) {
      if (f.path.endsWith(".tmp")) {
        if (!opts.dryRun && staleTemp(f, now)) remove(f.path);
        continue;
      }
      objects.push(f);
    }
  }
  const removable = (f: FileInfo) => now - f.mtime > PROTECT_MS;
  let total = 0;
  const kept: FileInfo[] = [];
  for (const f of objects) {
    if (opts.expiryMs > 0 && now - f.mtime > opts.expiryMs && removable(f) && remove(f.path)) {
      result.removedObjects++;
      result.removedBytes += f.size;
    } else {
      kept.push(f);
      total += f.size;
    }
  }
  if (opts.maxSizeBytes > 0 && total > opts.maxSizeBytes) {
    kept.sort((a, b) => a.mtime - b.mtime);
    for (const f of kept) {
      if (total <= opts.maxSizeBytes || !removable(f)) break;
      if (remove(f.path)) {
        total -= f.size;
        result.removedObjects++;
        result.removedBytes += f.size;
      }
    }
  }
  result.remainingBytes = total;
  // Action records are useless once their object is gone.
  for (const dir of realDirs(opts.layout, "a")) {
    for (const f of scan(dir)) {
      if (f.path.endsWith(".tmp")) {
        if (!opts.dryRun && staleTemp(f, now)) remove(f.path);
        continue;
      }
      let record;
      try { record = decodeRecord(readFileSync(f.path, "latin1")); } catch { continue; }
      // Records are not touched on use; their object's use time decides for them.
      const objectGone = !record || !lstatSync(opts.layout.objectPath(record.outputId), { throwIfNoEntry: false });
      if (objectGone && now - f.mtime > STALE_TMP_MS && remove(f.path)) result.removedActions++;
    }
  }
  try {
    mkdirSync(opts.layout.root, { recursive: true });
    // Written beside and renamed: a link planted at trim.txt is replaced, never written through.
    const tmp = `${opts.layout.trimStamp}.${uniqueTag()}.tmp`;
    writeFileSync(tmp, `${Math.floor(now / 1000)}\n`, { flag: "wx" });
    renameSync(tmp, opts.layout.trimStamp);
  } catch { /* the next exit trims again */ }
  return result;
}

export interface LocalInventory { entries: number; objects: number; bytes: number; oldestUseMs?: number; newestUseMs?: number }

/** What the local store holds: action records, objects, their bytes and use times (links and temp files skipped). */
export function localInventory(layout: Layout): LocalInventory {
  const inv: LocalInventory = { entries: 0, objects: 0, bytes: 0 };
  for (const dir of realDirs(layout, "a")) inv.entries += scan(dir).filter((f) => !f.path.endsWith(".tmp")).length;
  for (const dir of realDirs(layout, "o")) {
    for (const f of scan(dir)) {
      if (f.path.endsWith(".tmp")) continue;
      inv.objects++;
      inv.bytes += f.size;
      inv.oldestUseMs = Math.min(inv.oldestUseMs ?? f.mtime, f.mtime);
      inv.newestUseMs = Math.max(inv.newestUseMs ?? f.mtime, f.mtime);
    }
  }
  return inv;
}

/** The shard directories of one kind that are real directories (not links), under a real kind directory. */
function realDirs(layout: Layout, kind: "a" | "o"): string[] {
  const isDir = (p: string) => lstatSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
  if (!isDir(layout.root) || !isDir(join(layout.root, kind))) return [];
  return layout.shardDirs(kind).filter(isDir);
}

/** Regular files of a directory (links and anything else skipped). */
function scan(dir: string): FileInfo[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const out: FileInfo[] = [];
  for (const name of names) {
    const path = `${dir}/${name}`;
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st?.isFile()) out.push({ path, size: st.size, mtime: st.mtimeMs });
  }
  return out;
}

/** A temporary file nobody will finish: its writer is gone, or it is old. */
function staleTemp(f: FileInfo, now: number): boolean {
  if (now - f.mtime > STALE_TMP_MS) return true;
  const name = f.path.slice(f.path.lastIndexOf("/") + 1);
  const writer = parseWriter(name.slice(name.indexOf(".") + 1));
  return writer !== undefined && writerGone(writer);
}

function removeFile(path: string): boolean {
  try { unlinkSync(path); return true; } catch { return false; }
}

/** Trims when due (trimDue), saying what it removed or why it failed in the log; never throws. True when it ran. */
export function trimIfDue(opts: Omit<TrimOptions, "now"> & { intervalMs: number; log: Logger }): boolean {
  if (!trimDue(opts.layout, opts)) return false;
  try {
    const r = trimStore(opts);
    opts.log.info(`trim: removed ${r.removedObjects} objects (${r.removedBytes} bytes) and ${r.removedActions} action records; ${r.remainingBytes} bytes remain`);
  } catch (err) {
    opts.log.warn(`trim failed: ${describeError(err)}`);
  }
  return true;
}
