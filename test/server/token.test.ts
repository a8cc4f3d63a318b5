/** The token file shared by serve --plugin PORT and connect PORT (src/server/token.ts). */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createToken, defaultTokenPaths, readToken, removeToken } from "../../src/server/token.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);

const mode = (path: string) => statSync(path).mode & 0o777;
const HEX = "0123456789abcdef".repeat(4);

describe("createToken", () => {
  test.each([
    ["by default", {}, 0o600],
    ["with groupReadable", { groupReadable: true }, 0o640],
  ])("%s makes a fresh secret in a file of mode %o in a 0700 directory", (_name, opts, fileMode) => {
    const dir = join(tempDir("token"), "run", "go-cache-plugin");
    const path = join(dir, "5970.token");
    const old = process.umask(0o077); // the umask must neither narrow ...
    let secret: string;
    try {
      secret = createToken(path, opts);
    } finally {
      process.umask(old);
    }
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(path, "latin1")).toBe(`${secret}\n`);
    expect(mode(path)).toBe(fileMode);
    expect(mode(dir)).toBe(0o700);
    expect(readdirSync(dir)).toEqual(["5970.token"]); // no temporary file left behind
    expect(readToken(path)).toBe(secret);
  });

  test("the file mode does not depend on a wide umask either", () => {
    const path = join(tempDir("token"), "t.token");
    const old = process.umask(0o000); // ... nor widen it
    try {
      createToken(path);
    } finally {
      process.umask(old);
    }
    expect(mode(path)).toBe(0o600);
  });

  test("a second call replaces the secret", () => {
    const path = join(tempDir("token"), "t.token");
    const first = createToken(path);
    const second = createToken(path);
    expect(second).not.toBe(first);
    expect(readToken(path)).toBe(second);
  });

  test.each([
    ["a 0755 directory", 0o755, {}],
    ["a 0750 directory", 0o750, {}],
    ["a 0777 directory with groupReadable", 0o777, { groupReadable: true }],
  ])("refuses %s (open to others)", (_name, dirMode, opts) => {
    const dir = join(tempDir("token"), "shared");
    mkdirSync(dir);
    chmodSync(dir, dirMode);
    expect(() => createToken(join(dir, "t.token"), opts)).toThrow(/open to others/);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("accepts a 0750 directory with groupReadable (a server shared with a group)", () => {
    const dir = join(tempDir("token"), "group");
    mkdirSync(dir);
    chmodSync(dir, 0o750);
    const path = join(dir, "t.token");
    const secret = createToken(path, { groupReadable: true });
    expect(mode(path)).toBe(0o640);
    expect(readToken(path)).toBe(secret);
  });
});

describe("readToken", () => {
  test.each([
    ["0600", 0o600],
    ["0640", 0o640],
    ["0400", 0o400],
  ])("reads a well-formed file of mode %s", (_name, fileMode) => {
    const path = join(tempDir("token"), "t.token");
    writeFileSync(path, `${HEX}\n`);
    chmodSync(path, fileMode);
    expect(readToken(path)).toBe(HEX);
  });

  test.each([
    ["0644", 0o644],
    ["0604", 0o604],
    ["0606", 0o606],
    ["0602 (others can write)", 0o602],
  ])("refuses a file of mode %s", (_name, fileMode) => {
    const path = join(tempDir("token"), "t.token");
    writeFileSync(path, `${HEX}\n`);
    chmodSync(path, fileMode);
    expect(() => readToken(path)).toThrow(/readable or writable by others/);
  });

  test.each([
    ["empty", ""],
    ["63 hex digits", `${HEX.slice(1)}\n`],
    ["65 hex digits", `${HEX}0\n`],
    ["upper-case hex", `${HEX.toUpperCase()}\n`],
    ["not hex", `${"g".repeat(64)}\n`],
    ["a second line", `${HEX}\nmore\n`],
    ["leading space", ` ${HEX}\n`],
  ])("refuses a malformed file: %s", (_name, text) => {
    const path = join(tempDir("token"), "t.token");
    writeFileSync(path, text, { mode: 0o600 });
    expect(() => readToken(path)).toThrow(/is malformed/);
  });

  test("accepts the secret without a trailing newline", () => {
    const path = join(tempDir("token"), "t.token");
    writeFileSync(path, HEX, { mode: 0o600 });
    expect(readToken(path)).toBe(HEX);
  });

  test("refuses a directory and a missing file, naming the path", () => {
    const dir = tempDir("token");
    expect(() => readToken(dir)).toThrow(/is not a regular file/);
    const missing = join(dir, "missing.token");
    expect(() => readToken(missing)).toThrow(missing);
  });
});

describe("removeToken", () => {
  test("removes the file when it still holds that secret", () => {
    const path = join(tempDir("token"), "t.token");
    const secret = createToken(path);
    removeToken(path, secret);
    expect(existsSync(path)).toBe(false);
  });

  test("leaves a file that a newer server replaced", () => {
    const path = join(tempDir("token"), "t.token");
    const mine = createToken(path);
    const theirs = createToken(path);
    removeToken(path, mine);
    expect(readToken(path)).toBe(theirs);
    removeToken(path, theirs);
    expect(existsSync(path)).toBe(false);
  });

  test("leaves a file it cannot read as a token, and ignores a missing one", () => {
    const dir = tempDir("token");
    const path = join(dir, "t.token");
    writeFileSync(path, "not a token\n", { mode: 0o600 });
    removeToken(path, HEX);
    expect(existsSync(path)).toBe(true);
    expect(() => removeToken(join(dir, "missing.token"), HEX)).not.toThrow();
  });

  test("removes the link, not its target, when the path is a symlink to a file with that secret", () => {
    const dir = tempDir("token");
    const target = join(dir, "target.token");
    const secret = createToken(target);
    const link = join(dir, "link.token");
    symlinkSync(target, link);
    removeToken(link, secret);
    expect(existsSync(link)).toBe(false);
    expect(readToken(target)).toBe(secret);
  });
});

describe("defaultTokenPaths", () => {
  test.each([
    ["an absolute XDG_RUNTIME_DIR first", "/run/user/1000", ["/run/user/1000/go-cache-plugin/5970.token"]],
    ["no relative XDG_RUNTIME_DIR", "run/user", []],
    ["no empty XDG_RUNTIME_DIR", "", []],
  ])("lists %s, then the home directory's", (_name, runtime, first) => {
    const paths = defaultTokenPaths(5970, { XDG_RUNTIME_DIR: runtime, HOME: "/nonexistent-home" });
    expect(paths.slice(0, first.length)).toEqual(first);
    expect(paths).toHaveLength(first.length + 1);
    expect(paths.at(-1)).toMatch(/^\/.*\/\.cache\/go-cache-plugin\/run\/5970\.token$/);
  });
});

test("a token file with anything beyond the token line is malformed, however far out", () => {
  const p = join(tempDir("tok-long"), "t.token");
  writeFileSync(p, `${HEX}\n${" ".repeat(191)}this is not a token file`, { mode: 0o600 });
  expect(() => readToken(p)).toThrow(/malformed/);
});
