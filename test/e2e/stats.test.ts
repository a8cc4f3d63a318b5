/** `stats --json` against known builds: the real go command, the compiled binary, a real S3 server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { isolatedGoEnv, parseMetrics, runGo, sampleModule } from "../support/go.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, listKeys, pluginS3Env, s3Flags } from "../support/bucket.ts";
import { runCommand } from "../support/plugin.ts";

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); cleanupTempDirs(); });

async function stats(flags: string[]): Promise<any> {
  const r = await runCommand(["stats", "--json", ...flags], pluginS3Env(s3));
  if (r.exitCode !== 0) throw new Error(`stats failed (${r.exitCode}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const files = (dir: string) => readdirSync(dir).flatMap((shard) => readdirSync(join(dir, shard)));

describe("stats", () => {
  test("--json: the local cache, each session's gets, hits, misses and puts, and the bucket by kind match the builds", async () => {
    const bucket = bucketName("stats");
    await s3.createBucket(bucket);
    const cacheDir = tempDir("runner");
    const flags = ["--cache-dir", cacheDir, ...s3Flags(s3, bucket, "st")];
    const env = { ...isolatedGoEnv(), ...pluginS3Env(s3), GOCACHEPROG: [BINARY, "--metrics", ...flags].join(" ") };
    const mod = sampleModule("stats");
    const runs = [];
    for (let i = 0; i < 2; i++) {
      const r = await runGo(["build", "./..."], { cwd: mod, env });
      expect(r.exitCode).toBe(0);
      runs.push(parseMetrics(r.stderr));
    }
    const s = await stats(flags);
    expect(s.sessions).toHaveLength(2);
    runs.forEach((m, i) => expect(s.sessions[i]).toMatchObject({ gets: m.cache_gets, hits: m.cache_hits, misses: m.cache_misses, puts: m.cache_puts, bytesOut: m.cache_bytes_out }));
    expect(s.sessions[0].built).toBeGreaterThan(10); // the cold build ran its actions after misses
    expect(s.totals).toMatchObject({ sessions: 2, gets: runs[0]!.cache_gets! + runs[1]!.cache_gets!, hits: runs[0]!.cache_hits! + runs[1]!.cache_hits! });
    expect(s.totals.estimatedSavedMs).toBeGreaterThan(0);
    expect(s.local.entries).toBe(files(join(cacheDir, "v1", "a")).length);
    expect(s.local.objects).toBe(files(join(cacheDir, "v1", "o")).length);
    expect(s.local.oldestUseMs).toBeLessThanOrEqual(s.local.newestUseMs);
    expect(s.pending.uploads).toBe(0);
    expect(s.trim).toBeUndefined();
    const keys = await listKeys(s3, bucket);
    for (const kind of ["ax", "manifest", "zoutput"]) expect(s.bucket.kinds[kind].objects).toBe(keys.filter((k) => k.startsWith(`st/${kind}/`)).length);
    expect(s.bucket.kinds.ax.objects).toBeGreaterThan(10);

    // With --max-size 1: trim would remove everything not used in the last two hours (nothing, here), and says so.
    const t = await stats([...flags, "--max-size", "1"]);
    expect(t.trim).toMatchObject({ removedObjects: 0 });
    const text = Bun.spawnSync([binary(), "stats", "--cache-dir", cacheDir]).stdout.toString();
    expect(text).toContain("Last 2 sessions");
    expect(text).toMatch(/entries\s+\d+/);
  });
});
