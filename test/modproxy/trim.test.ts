/** Trimming the module proxy's local copy by --expiry and --modproxy-max-size, and recording use on serve. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
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

describe("trimModuleCache with a size cap", () => {
  const HOUR = 60 * 60 * 1000;

  test("removes least recently used files (use = later of atime and mtime) until under the cap", () => {
    const root = moduleCacheRoot(tempDir("modtrim"));
    const oldest = file(root, "module/example.com/a/@v/v1.0.0.zip", 400, 40 * DAY);
    const oldButUsed = file(root, "module/example.com/b/@v/v1.0.0.zip", 400, 50 * DAY, 3 * DAY);
    const middle = file(root, "module/example.com/c/@v/v1.0.0.zip", 400, 10 * DAY);
    const newest = file(root, "module/example.com/d/@v/v1.0.0.mod", 100, 5 * HOUR);
    const r = trimModuleCache({ root, expiryMs: 0, maxSizeBytes: 600, now });
    expect(r).toEqual({ removedFiles: 2, removedBytes: 800, remainingBytes: 500 });
    expect([oldest, middle].map(existsSync)).toEqual([false, false]);
    expect([oldButUsed, newest].map(existsSync)).toEqual([true, true]);
    expect(existsSync(join(root, "module/example.com/a"))).toBe(false);
  });

  test.each([
    ["files used within the protection window stay, even over the cap", 1, 2],
    ["a cap of 0 means no cap", 0, 2],
  ])("%s", (_name, cap, kept) => {
    const root = moduleCacheRoot(tempDir("modtrim"));
    const paths = [file(root, "module/example.com/a/@v/v1.0.0.zip", 500, HOUR), file(root, "module/example.com/b/@v/v1.0.0.zip", 500, 30 * DAY, HOUR)];
    const r = trimModuleCache({ root, expiryMs: 0, maxSizeBytes: cap, now });
    expect([r.removedFiles, r.remainingBytes, paths.filter(existsSync).length]).toEqual([0, 1000, kept]);
  });

  test("expiry and the cap in one pass; tmp/ is neither counted nor removed", () => {
    const root = moduleCacheRoot(tempDir("modtrim"));
    file(root, "module/example.com/expired/@v/list", 10, 30 * DAY);
    const big = file(root, "module/example.com/big/@v/v1.0.0.zip", 1000, 3 * DAY);
    const small = file(root, "module/example.com/small/@v/v1.0.0.mod", 50, DAY);
    const download = file(root, "tmp/1-1-x.tmp", 5000, 30 * DAY);
    const r = trimModuleCache({ root, expiryMs: 7 * DAY, maxSizeBytes: 100, now });
    expect(r).toEqual({ removedFiles: 2, removedBytes: 1010, remainingBytes: 50 });
    expect([big, small, download].map(existsSync)).toEqual([false, true, true]);
  });
});

describe("trimModuleCache and symlinks", () => {
  test("a symlinked directory is not followed: the files it points at stay, and so does the link", () => {
    const outside = tempDir("modtrim-outside");
    const victim = file(outside, "precious/@v/v1.0.0.zip", 1000, 60 * DAY);
    const root = moduleCacheRoot(tempDir("modtrim"));
    const ours = file(root, "module/example.com/ours/@v/v1.0.0.zip", 100, 60 * DAY);
    symlinkSync(outside, join(root, "module/example.com/link"));
    symlinkSync(victim, join(root, "module/example.com/ours/@v/v1.0.1.zip"));
    const r = trimModuleCache({ root, expiryMs: DAY, maxSizeBytes: 1, now });
    expect(r).toEqual({ removedFiles: 1, removedBytes: 100, remainingBytes: 0 });
    expect(existsSync(ours)).toBe(false);
    expect(existsSync(victim)).toBe(true);
    expect(readdirSync(outside)).toEqual(["precious"]);
    expect(lstatSync(join(root, "module/example.com/link")).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(root, "module/example.com/ours/@v/v1.0.1.zip")).isSymbolicLink()).toBe(true);
  });

  test("a symlink in the store is a miss for ModStorage, not a file to serve", () => {
    const dir = tempDir("modtrim");
    const outside = file(tempDir("modtrim-outside"), "secret", 10, DAY);
    const storage = new ModStorage({ dir, log: createLogger({ verbose: false, debug: false }) });
    mkdirSync(join(storage.root, "module/example.com/m/@v"), { recursive: true });
    symlinkSync(outside, join(storage.root, "module/example.com/m/@v/list"));
    expect(storage.file("module/example.com/m/@v/list")).toBeUndefined();
    storage.writeMutable("module/example.com/m/@v/list", new TextEncoder().encode("v1.0.0\n"));
    expect(storage.file("module/example.com/m/@v/list")?.size).toBe(7);
    expect(statSync(outside).size).toBe(10); // the link was replaced, its target left alone
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
