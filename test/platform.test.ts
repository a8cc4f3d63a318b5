/** What differs on Windows (src/platform.ts), exercised here with the platform given explicitly. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { publish } from "../src/store/local.ts";
import { prepareCacheDir } from "../src/store/cache-dir.ts";
import { isRenameBusy } from "../src/platform.ts";
import { cleanupTempDirs, tempDir } from "./support/paths.ts";

afterAll(cleanupTempDirs);
const busy = (code: string) => Object.assign(new Error(`rename: ${code}`), { code });

describe("publish on Windows, when the target is held open elsewhere", () => {
  test.each([
    ["the same size already there: the temporary file goes, the file there stays", "same", true],
    ["another size there: the rename's error", "other", false],
  ] as const)("%s", (_name, there, ok) => {
    const dir = tempDir("publish");
    const tmp = join(dir, "obj.tmp"), final = join(dir, "obj");
    writeFileSync(tmp, "new!");
    writeFileSync(final, there === "same" ? "old!" : "older");
    let tries = 0;
    const run = () => publish(tmp, final, false, () => { tries++; throw busy("EPERM"); }, "win32");
    if (ok) {
      run();
      expect(existsSync(tmp)).toBe(false);
      expect(readFileSync(final, "utf8")).toBe("old!");
    } else expect(run).toThrow("EPERM");
    expect(tries).toBe(5); // tried again before giving up
  });

  test("a busy rename that passes on a later try publishes the new file", () => {
    const dir = tempDir("publish");
    const tmp = join(dir, "obj.tmp"), final = join(dir, "obj");
    writeFileSync(tmp, "new!");
    let tries = 0;
    publish(tmp, final, false, (a, b) => { if (++tries < 3) throw busy("EBUSY"); require("node:fs").renameSync(a, b); }, "win32");
    expect(readFileSync(final, "utf8")).toBe("new!");
  });

  test.each([["linux", false], ["darwin", false], ["win32", true]] as const)("EPERM counts as busy on %s: %p", (platform, want) => {
    expect(isRenameBusy(busy("EPERM"), platform)).toBe(want);
    expect(isRenameBusy(busy("ENOENT"), platform)).toBe(false);
  });
});

describe("prepareCacheDir where mode bits do not mean access (Windows)", () => {
  test("a directory stat reports as writable by others is refused where mode bits count, accepted where ACLs decide", () => {
    const dir = tempDir("cachedir");
    chmodSync(dir, 0o777);
    expect(() => prepareCacheDir(dir, { modeBits: true })).toThrow("group or others may write");
    expect(() => prepareCacheDir(join(dir, "c"), { modeBits: false, ownedRoot: dir })).not.toThrow(); // under the user's own root
  });

  test("outside the user's own root (%LocalAppData%) it is refused unless --cache-dir-shared", () => {
    const dir = tempDir("cachedir");
    const root = tempDir("localappdata");
    expect(() => prepareCacheDir(dir, { modeBits: false, ownedRoot: root })).toThrow("%LocalAppData%");
    expect(() => prepareCacheDir(dir, { modeBits: false, ownedRoot: root, shared: true })).not.toThrow();
  });
});

describe("serve --socket where mode bits do not mean access (Windows)", () => {
  const { CACHE_FLAGS, SERVE_FLAGS, buildServeConfig, parseFlags } = require("../src/config.ts");
  const parse = (modeBits: boolean) => buildServeConfig(parseFlags(["--socket", "/tmp/x.sock"], { ...CACHE_FLAGS, ...SERVE_FLAGS }), { HOME: "/tmp/home" }, modeBits);
  test("is refused, pointing at --plugin", () => {
    expect(() => parse(false)).toThrow("use --plugin PORT");
    expect(parse(true).socket).toBe("/tmp/x.sock");
  });
});
