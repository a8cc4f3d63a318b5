/** `wait`: no upload lost when an ephemeral runner ends right after its build. Real go command, real S3 server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { BINARY, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { expectOk, isolatedGoEnv, parseMetrics, runGo, sampleModule } from "../support/go.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, pluginS3Env } from "../support/bucket.ts";
import { runCommand } from "../support/plugin.ts";
import { startLatencyProxy, type LatencyProxy } from "../support/latency-proxy.ts";

let s3: S3Server;
let slow: LatencyProxy;
beforeAll(async () => {
  s3 = await startS3Server();
  // 25 ms and 8 Mbit/s: uploads outlast the go command, which returns at close.
  slow = startLatencyProxy({ hostname: "127.0.0.1", port: s3.port }, 25, { bitsPerSecond: 8e6 });
});
afterAll(async () => {
  slow?.stop();
  await s3?.destroy();
  cleanupTempDirs();
});


function runnerFlags(cacheDir: string, bucket: string, endpoint: string, extra: string[] = []): string[] {
  return ["--cache-dir", cacheDir, "--bucket", bucket, "--s3-endpoint-url", endpoint, "--s3-path-style", "--region", "us-east-1", ...extra];
}

const runWait = (flags: string[]) => runCommand(["wait", ...flags], pluginS3Env(s3));

const pendingIn = (cacheDir: string) => readdirSync(join(cacheDir, "v1", "journal")).filter((n) => n.endsWith(".log"));

describe("wait", () => {
  test("after a cold build behind 25 ms, wait returns once the uploads are in: a fresh runner then compiles nothing", async () => {
    const bucket = bucketName("wait");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const mod = sampleModule("wait");
    const cacheDir = tempDir("runner");
    // One upload at a time (several round trips each): the uploads outlast the build.
    const flags = runnerFlags(cacheDir, bucket, slow.endpoint, ["--upload-timeout", "60s", "-u", "1"]);
    expectOk(await runGo(["build", "./..."], { cwd: mod, untilExit: true, env: { ...goEnv, ...pluginS3Env(s3), GOCACHEPROG: [BINARY, ...flags].join(" ") } }));
    const w = await runWait([...flags, "-v", "--timeout", "60s"]);
    expect(w.stderr).toMatch(/all uploads done \((\d+) were pending/); // the build had returned with uploads still going
    expect(Number(/\((\d+) were pending/.exec(w.stderr)![1])).toBeGreaterThan(0);
    expect(w.exitCode).toBe(0);

    const fresh = tempDir("runner");
    const b = await runGo(["build", "./..."], { cwd: mod, env: { ...isolatedGoEnv(), ...pluginS3Env(s3), GOCACHEPROG: [BINARY, ...runnerFlags(fresh, bucket, s3.endpoint, ["--metrics"])].join(" ") } });
    expectOk(b);
    expect(parseMetrics(b.stderr).cache_bytes_in).toBe(0);
  });

  test("with the bucket down, wait --timeout 2s exits 1 naming what is pending; once it is back, wait uploads what the gone process left", async () => {
    const server = await startS3Server();
    try {
      const bucket = bucketName("wait-down");
      await server.createBucket(bucket);
      await server.stop();
      const mod = sampleModule("wait-down");
      const cacheDir = tempDir("runner");
      const flags = runnerFlags(cacheDir, bucket, server.endpoint, ["--upload-timeout", "1s"]);
      const env = { ...isolatedGoEnv(), ...pluginS3Env(server), GOCACHEPROG: [BINARY, ...flags].join(" ") };
      expectOk(await runGo(["build", "./..."], { cwd: mod, env })); // the build does not need the bucket
      await Bun.sleep(3000); // the plugin gives up after --upload-timeout and exits, leaving its journal
      expect(pendingIn(cacheDir).length).toBe(1);

      const down = await runWait([...flags, "--timeout", "2s"]);
      expect(down.exitCode).toBe(1);
      expect(down.stderr).toMatch(/wait: (\d+) uploads \([^)]*\): .*still pending after/);
      expect(Number(/wait: (\d+) uploads/.exec(down.stderr)![1])).toBeGreaterThan(5);
      expect(down.stderr).toContain(".log: "); // the journal, by name
      expect(down.stderr).toMatch(/\[s3\]|\[remote\]/); // and why: the bucket's failure

      await server.start();
      const up = await runWait([...flags, "--timeout", "60s"]);
      expect(up.stderr).toContain("all uploads done");
      expect(up.exitCode).toBe(0);
      expect(pendingIn(cacheDir)).toEqual([]);

      const fresh = tempDir("runner");
      const b = await runGo(["build", "./..."], { cwd: mod, env: { ...isolatedGoEnv(), ...pluginS3Env(server), GOCACHEPROG: [BINARY, ...runnerFlags(fresh, bucket, server.endpoint, ["--metrics"])].join(" ") } });
      expectOk(b);
      expect(parseMetrics(b.stderr).cache_bytes_in).toBe(0);
    } finally {
      await server.destroy();
    }
  });

  test("nothing pending: exits 0 at once; a journal left behind without bucket flags: exits 1 and says the flags are needed", async () => {
    const cacheDir = tempDir("runner");
    const none = await runWait(["--cache-dir", cacheDir]);
    expect(none.exitCode).toBe(0);
    expect(none.stderr).toContain("no uploads pending");
    const { mkdirSync, writeFileSync } = await import("node:fs");
    mkdirSync(join(cacheDir, "v1", "journal"), { recursive: true });
    const id = "ab".repeat(32);
    // A journal of a writer in another PID space, untouched for an hour: an orphan.
    const path = join(cacheDir, "v1", "journal", "deadbeef-123-abcd1234.log");
    writeFileSync(path, `put ${id} ${"cd".repeat(32)} 10 1\n`);
    const old = new Date(Date.now() - 3_600_000);
    (await import("node:fs")).utimesSync(path, old, old);
    const left = await runWait(["--cache-dir", cacheDir, "--timeout", "5s"]);
    expect(left.exitCode).toBe(1);
    expect(left.stderr).toContain("need the bucket flags");
    expect(left.stderr).toContain("1 uploads");
  });
});
