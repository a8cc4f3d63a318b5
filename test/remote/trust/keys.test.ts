/** The signing key file: its syntax, its mode, and errors that never show a secret. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KeyFileError, loadKeyFile, parseKeyFile } from "../../../src/remote/trust/keys.ts";
import { cleanupTempDirs, tempDir } from "../../support/paths.ts";

afterAll(cleanupTempDirs);

const SECRET = "s3cret-value-0123456789";
const file = (text: string, mode = 0o600) => {
  const p = join(tempDir("keys"), "keys");
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
};

describe("key file syntax", () => {
  test("the first key signs; comments and blank lines are skipped; scopes name prefixes, / the root", () => {
    const keys = parseKeyFile(`# rotated 2025-06\nnew ${SECRET}\n\n  old ${SECRET}-old   main,/,team/ci/\n`, "f", "");
    expect(keys.map((k) => k.id)).toEqual(["new", "old"]);
    expect(new TextDecoder().decode(keys[0]!.secret)).toBe(SECRET);
    expect(keys[0]!.scope).toBeUndefined();
    expect(keys[1]!.scope).toEqual(["main", "", "team/ci"]);
  });

  test.each([
    ["no keys", "# nothing\n\n", /no keys/],
    ["a line with one field", `${SECRET}\n`, /line 1: expected/],
    ["a line with four fields", `k ${SECRET} main extra\n`, /line 1: expected/],
    ["a bad key id", `k/1 ${SECRET}\n`, /line 1: a key id/],
    ["a short secret", "k short\n", /line 1: a secret is 16-1024/],
    ["a key id twice", `k ${SECRET}\nk ${SECRET}x\n`, /line 2: key id k is listed twice/],
    ["an empty namespace", `k ${SECRET} main,\n`, /line 1: an empty namespace/],
    ["a signing key not scoped to the own prefix", `k ${SECRET} main\n`, /first key \(k\) .* --prefix "pr\/7"/],
  ])("refuses %s, without showing the secret", (_name, text, message) => {
    let err: unknown;
    try { parseKeyFile(text, "f", "pr/7"); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(KeyFileError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain(SECRET);
    expect((err as Error).message).not.toContain("short");
  });
});

describe("key file on disk", () => {
  test("a 0600 file loads", () => {
    expect(loadKeyFile(file(`k ${SECRET}\n`), "")[0]!.id).toBe("k");
  });

  test.each([[0o640], [0o604], [0o620], [0o644]])("mode %o (group or others may read or write) is refused with chmod advice", (mode) => {
    const p = file(`k ${SECRET}\n`, mode);
    expect(() => loadKeyFile(p, "")).toThrow(/accessible by group or others .*chmod 600/);
  });

  test("a missing file is an error naming it, with the cause", () => {
    let err: any;
    try { loadKeyFile("/nonexistent/keys", ""); } catch (e) { err = e; }
    expect(err.message).toBe("[trust] read signing key file /nonexistent/keys");
    expect(err.cause.code).toBe("ENOENT");
  });

  test("a directory is refused", () => {
    const d = tempDir("keysdir");
    chmodSync(d, 0o700);
    expect(() => loadKeyFile(d, "")).toThrow(/not a regular file/);
  });
});
