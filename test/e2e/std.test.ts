/** (d) go build std through the plugin: about 20 s cold on 2 cores, so only here. */
import { afterAll, expect, test } from "bun:test";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { isolatedGoEnv, parseMetrics, runGo } from "../support/go.ts";
import { checkStore } from "../support/store.ts";

afterAll(cleanupTempDirs);

test("(d) go build std succeeds and a second run is all hits", async () => {
  binary();
  const cache = tempDir("cache");
  const env = { ...isolatedGoEnv(), GOCACHEPROG: `${BINARY} --cache-dir ${cache} --metrics` };
  const cwd = tempDir("cwd");
  const cold = await runGo(["build", "std"], { cwd, env });
  if (cold.exitCode !== 0) throw new Error(cold.stderr);
  expect(parseMetrics(cold.stderr).cache_puts).toBeGreaterThan(500);
  const warm = await runGo(["build", "std"], { cwd, env: { ...env, GOCACHE: tempDir("gocache") } });
  if (warm.exitCode !== 0) throw new Error(warm.stderr);
  const m = parseMetrics(warm.stderr);
  expect(m.cache_gets).toBeGreaterThan(300);
  expect(m.cache_hits).toBe(m.cache_gets);
  expect(m.cache_puts).toBe(0);
  expect(checkStore(cache).problems).toEqual([]);
}, 300_000);
