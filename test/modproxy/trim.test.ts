/** Trimming the module proxy's local copy by --expiry, and recording use on serve. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { moduleCacheRoot, trimModuleCache } from "../../src/modproxy/trim.ts";
import { ModStorage } from "../../src/modproxy/storage.ts";
import { createLogger } from "../../src/log.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(() => cleanupTempDirs());

const DAY = 24 * 60 * 60 * 1000;
const now = Date.now();

/** Writes a file under the module cache with the given fetch (mtime) and use (atime) ages. */
function file(root: string, key: string, size: number, fetchedAgo: number, usedAgo = fetchedAgo): string {
  const path = join(root, key);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, new Uint8Array(size));
  utimesSync(path, (now - usedAgo) / 1000, (now - fetchedAgo) / 1000);
  return path;
}

describe("trimModuleCache", () => {
  test("removes what was not used within --expiry, keeps the rest, and drops emptied directories", () => {
    const root = moduleCacheRoot(tempDir("modtrim"));
    const old = file(root, "module/example.com/old/@v/v1.0.0.zip", 100, 30 * DAY);
    const fetchedLongAgoUsedLately = file(root, "module/example.com/used/@v/v1.0.0.zip", 200, 30 * DAY, DAY);
    const fresh = file(root, "module/example.com/new/@v/list", 50, DAY);
    const download = file(root, "tmp/123-1-abc.tmp", 10, 30 * DAY); // ModStorage's business
    const r = trimModuleCache({ root, expiryMs: 7 * DAY, now });
    expect(r).toEqual({ removedFiles: 1, removedBytes: 100, remainingBytes: 250 });
    expect(existsSync(old)).toBe(false);
    expect(existsSync(dirname(dirname(old)))).toBe(false); // module/example.com/old is gone too
    for (const kept of [fetchedLongAgoUsedLately, fresh, download]) expect(existsSync(kept)).toBe(true);
  });

  test.each([
    ["no --expiry", 0],
    ["an expiry shorter than the protection window", 60_000],
  ])("%s removes nothing used in the last two hours", (_name, expiryMs) => {
    const root = moduleCacheRoot(tempDir("modtrim"));
    const recent = file(root, "sumdb/sum.golang.org/latest", 10, 60 * 60 * 1000);
    expect(trimModuleCache({ root, expiryMs, now }).removedFiles).toBe(0);
    expect(existsSync(recent)).toBe(true);
  });

  test("a missing directory is nothing to do", () => {
    expect(trimModuleCache({ root: join(tempDir("modtrim"), "none"), expiryMs: DAY, now })).toEqual({ removedFiles: 0, removedBytes: 0, remainingBytes: 0 });
  });
});

describe("ModStorage.noteUse", () => {
  test("records use in the atime and leaves the mtime (the fetch time) alone", () => {
    const dir = tempDir("modtrim");
    const storage = new ModStorage({ dir, log: createLogger({ verbose: false, debug: false }) });
    const path = file(moduleCacheRoot(dir), "module/example.com/m/@v/list", 10, 30 * DAY);
    storage.noteUse(storage.file("module/example.com/m/@v/list")!);
    const st = statSync(path);
    expect(Math.abs(st.atimeMs - Date.now())).toBeLessThan(60_000);
    expect(Math.abs(st.mtimeMs - (now - 30 * DAY))).toBeLessThan(1_000);
    expect(trimModuleCache({ root: moduleCacheRoot(dir), expiryMs: 7 * DAY }).removedFiles).toBe(0);
  });
});
