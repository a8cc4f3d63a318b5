/**
 * The go command starts the plugin in the directory it builds, which may be
 * anyone's repository (a pull request in CI). A compiled Bun binary reads
 * that directory's bunfig.toml (whose `preload` runs code in our process,
 * beside the bucket credentials and the signing key) and .env (GOCACHE_* and
 * credential variables) unless it is built not to: ours reads neither.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { expectOk, isolatedGoEnv, parseMetrics, runGo, sampleModule } from "../support/go.ts";

afterAll(cleanupTempDirs);

/** A module whose directory holds a preload that leaves a marker, and a .env asking for debug logging. */
function hostileModule(): { dir: string; marker: string } {
  const dir = sampleModule();
  const marker = join(tempDir("marker"), "preload-ran");
  writeFileSync(join(dir, "evil.ts"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`);
  writeFileSync(join(dir, "bunfig.toml"), `preload = ["./evil.ts"]\n`);
  writeFileSync(join(dir, ".env"), "GOCACHE_VERBOSE=1\nGOCACHE_DEBUG=1\nGOCACHE_S3_BUCKET=s3://attacker\n");
  return { dir, marker };
}

describe("a repository's bunfig.toml and .env", () => {
  test("a go build in it runs no preload and takes no variables from .env", async () => {
    binary();
    const { dir, marker } = hostileModule();
    const env = { ...isolatedGoEnv(), GOCACHEPROG: `${BINARY} --cache-dir ${tempDir("cache")} --metrics` };
    const r = await runGo(["build", "./..."], { cwd: dir, env });
    expectOk(r);
    expect(parseMetrics(r.stderr).cache_gets).toBeGreaterThan(0); // the plugin ran, and its stderr is here
    expect(existsSync(marker)).toBe(false);
    expect(r.stderr).not.toContain("direct mode"); // GOCACHE_VERBOSE
    expect(r.stderr).not.toMatch(/get [0-9a-f]{64}: /); // GOCACHE_DEBUG
    expect(r.stderr).not.toContain("attacker"); // GOCACHE_S3_BUCKET
  }, 120_000);

  test.each([["version"], ["help"], ["stats"]])("nor does `%s` run in it", async (cmd) => {
    const { dir, marker } = hostileModule();
    const p = Bun.spawn([binary(), cmd, ...(cmd === "stats" ? ["--cache-dir", tempDir("cache")] : [])], { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [out, exitCode] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(exitCode).toBe(0);
    expect(out.length).toBeGreaterThan(0);
    expect(existsSync(marker)).toBe(false);
  });
});
