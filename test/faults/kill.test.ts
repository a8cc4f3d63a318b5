/**
 * kill -9 at random points: 20 cold builds through the plugin (with a bucket,
 * so puts, renames, journal lines and uploads are all in flight) are killed
 * with their whole process group; a warm build then serves no corrupt entry,
 * the orphaned journals are claimed, and after the next trim no temporary or
 * claim file is left.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BINARY, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { goBinary, isolatedGoEnv, runGo, sampleModule } from "../support/go.ts";
import { checkStore } from "../support/store.ts";
import { line, runPlugin } from "../support/plugin.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, pluginS3Env, s3Flags } from "../support/bucket.ts";

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); cleanupTempDirs(); });

describe("kill -9 loop", () => {
  test("20 killed cold builds, then a warm build: nothing corrupt served, nothing stray after trim", async () => {
    const bucket = bucketName("kill");
    await s3.createBucket(bucket);
    const cache = tempDir("kill");
    const prog = `${BINARY} --cache-dir ${cache} ${s3Flags(s3, bucket).join(" ")}`;
    const mod = sampleModule("kill");
    let seed = 1;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 20; i++) {
      const env = { ...process.env, ...isolatedGoEnv(), ...pluginS3Env(s3), GOCACHEPROG: prog };
      // Its own session and process group, so one kill reaches go, the compiler and the plugin.
      const p = Bun.spawn(["setsid", goBinary(), "build", "./..."], { cwd: mod, env, stdout: "ignore", stderr: "ignore" });
      await Bun.sleep(150 + random() * 2500);
      try { process.kill(-p.pid, "SIGKILL"); } catch { /* finished already */ }
      await p.exited;
    }
    const warm = await runGo(["build", "./..."], { cwd: mod, env: { ...isolatedGoEnv(), ...pluginS3Env(s3), GOCACHEPROG: prog } });
    if (warm.exitCode !== 0) throw new Error(warm.stderr);
    expect(checkStore(cache).problems.filter((p) => !p.startsWith("temporary file left"))).toEqual([]);
    const test2 = await runGo(["test", "./..."], { cwd: mod, env: { ...isolatedGoEnv(), ...pluginS3Env(s3), GOCACHEPROG: prog } });
    if (test2.exitCode !== 0) throw new Error(test2.stderr);

    // The next trim (due at every exit with --trim-interval 0) removes what killed writers left.
    const trim = await runPlugin(["--cache-dir", cache, "--max-size", "100GiB", "--trim-interval", "0", ...s3Flags(s3, bucket)], line({ ID: 1, Command: "close" }), pluginS3Env(s3));
    expect(trim.exitCode).toBe(0);
    expect(checkStore(cache).problems).toEqual([]);
    const journal = join(cache, "v1", "journal");
    const left = existsSync(journal) ? readdirSync(journal) : [];
    expect(left.filter((n) => n.includes("claim") || n.endsWith(".tmp"))).toEqual([]);
    expect(left).toEqual([]); // every orphan claimed and its uploads done
  }, 180_000);
});
