/** wireCache: what a configuration builds, and what it starts before the first request. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { CACHE_FLAGS, buildConfig, parseFlags } from "../../src/config.ts";
import { wireCache } from "../../src/cli/wire.ts";
import type { TieredCache } from "../../src/remote/tiered.ts";
import { createLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);

const log = createLogger({ verbose: false, debug: false, write: () => {} });
const wire = (dir: string, flags: string[]) =>
  wireCache(buildConfig(parseFlags(["--cache-dir", dir, ...flags], CACHE_FLAGS), { HOME: dir }), log, new Metrics());
const bucketFlags = ["--bucket", "wired", "--region", "us-east-1", "--s3-endpoint-url", "http://127.0.0.1:9"];

describe("wireCache", () => {
  test("without a bucket there is no remote tier", async () => {
    const w = await wire(tempDir("wire"), []);
    expect(w.cache).toBe(w.local);
    w.afterStart();
  });

  test.each([
    ["an empty cache directory (a fresh runner) starts the remote worker at once", false, true],
    ["a cache that holds action records leaves it to the first remote lookup", true, false],
  ])("%s", async (_name, hasActions, startsNow) => {
    const dir = tempDir("wire");
    if (hasActions) mkdirSync(`${dir}/v1/a`, { recursive: true });
    const w = await wire(dir, bucketFlags);
    w.afterStart();
    expect((w.cache as TieredCache).workerRunning).toBe(startsNow);
    await w.cache.close();
    expect((w.cache as TieredCache).workerRunning).toBe(false);
  });
});
