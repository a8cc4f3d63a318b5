/**
 * (d) go build std through the plugin: about 20 s cold on 2 cores, so only here,
 * and only with the machine's go. The extra toolchains of goToolchains() build a
 * representative part of the standard library instead (encoding/json,
 * compress/gzip, regexp and their dependencies, runtime and assembly included:
 * about 80 packages, 10 s cold on 2 cores).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { goToolchains, isolatedGoEnv, parseMetrics, runGo, type GoToolchain } from "../support/go.ts";
import { checkStore } from "../support/store.ts";

afterAll(cleanupTempDirs);

/** What each toolchain builds: std for the machine's go, a part of it for the others. */
function stdCase(tc: GoToolchain): { what: string; packages: string[]; minPuts: number; minGets: number } {
  return tc.system
    ? { what: "std", packages: ["std"], minPuts: 500, minGets: 300 }
    : { what: "a part of std", packages: ["encoding/json", "compress/gzip", "regexp"], minPuts: 200, minGets: 100 };
}

describe.each(goToolchains())("standard library through the plugin ($name)", (toolchain) => {
  const c = stdCase(toolchain);
  test(`(d) go build ${c.what} succeeds and a second run is all hits`, async () => {
    binary();
    const cache = tempDir("cache");
    const env = { ...isolatedGoEnv(), GOCACHEPROG: `${BINARY} --cache-dir ${cache} --metrics` };
    const cwd = tempDir("cwd");
    const cold = await runGo(["build", ...c.packages], { cwd, env, toolchain });
    if (cold.exitCode !== 0) throw new Error(cold.stderr);
    expect(parseMetrics(cold.stderr).cache_puts).toBeGreaterThan(c.minPuts);
    const warm = await runGo(["build", ...c.packages], { cwd, env: { ...env, GOCACHE: tempDir("gocache") }, toolchain });
    if (warm.exitCode !== 0) throw new Error(warm.stderr);
    const m = parseMetrics(warm.stderr);
    expect(m.cache_gets).toBeGreaterThan(c.minGets);
    expect(m.cache_hits).toBe(m.cache_gets);
    expect(m.cache_puts).toBe(0);
    expect(checkStore(cache).problems).toEqual([]);
  }, 300_000);
});
