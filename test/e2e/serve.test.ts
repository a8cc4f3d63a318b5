/** Server mode: a real `serve` process, real go commands through `connect`. */
import { afterAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { expectOk, isolatedGoEnv, libraryModule, parseMetrics, runGo, sampleModule, type GoResult } from "../support/go.ts";
import { startServe } from "../support/serve.ts";
import { checkStore } from "../support/store.ts";
import { startS3Server } from "../support/s3server.ts";
import { bucketName, listKeys, pluginS3Env, s3Flags } from "../support/bucket.ts";
import { freePort } from "../support/net.ts";
import { rawConnect, tokenFor } from "../support/raw-client.ts";
import { actionId, line } from "../support/plugin.ts";

afterAll(cleanupTempDirs);


const connectEnv = (target: string | number, goEnv = isolatedGoEnv()) => ({ ...goEnv, GOCACHEPROG: `${BINARY} connect ${target}` });

describe("serve and connect", () => {
  test("eight concurrent go builds through connect all succeed on one consistent store; /metrics counts them", async () => {
    const server = await startServe();
    try {
      const goEnv = isolatedGoEnv();
      const mods = Array.from({ length: 8 }, (_, i) => sampleModule(`par${i}`));
      const runs = await Promise.all(mods.map((cwd) => runGo(["build", "./..."], { cwd, env: connectEnv(server.port, goEnv) })));
      for (const r of runs) expectOk(r);
      const check = checkStore(server.cacheDir);
      expect(check.problems).toEqual([]);
      const m = await server.metrics();
      expect(m("gocache_connections_accepted_total")).toBe(8);
      expect(m("gocache_connections_active")).toBe(0);
      expect(m("gocache_cache_hits_total") + m("gocache_cache_misses_total")).toBe(m("gocache_cache_gets_total"));
      expect(m("gocache_cache_errors_total")).toBe(0);

      // The counters match a build run: learn its exact numbers in direct mode, then compare deltas.
      const lib = libraryModule("metrics");
      const directEnv = { ...goEnv, GOCACHEPROG: `${BINARY} --cache-dir ${tempDir("d")} --metrics` };
      expectOk(await runGo(["build", "./..."], { cwd: lib, env: directEnv }));
      const direct = await runGo(["build", "./..."], { cwd: lib, env: { ...directEnv, GOCACHE: tempDir("gc") } }); // warm
      expectOk(direct);
      const d = parseMetrics(direct.stderr);
      expectOk(await runGo(["build", "./..."], { cwd: lib, env: connectEnv(server.port, goEnv) })); // cold through the server
      const before = await server.metrics();
      expectOk(await runGo(["build", "./..."], { cwd: lib, env: { ...connectEnv(server.port, goEnv), GOCACHE: tempDir("gc") } }));
      const after = await server.metrics();
      expect(after("gocache_cache_gets_total") - before("gocache_cache_gets_total")).toBe(d.cache_gets!);
      expect(after("gocache_cache_hits_total") - before("gocache_cache_hits_total")).toBe(d.cache_gets!);
      expect(after("gocache_cache_puts_total") - before("gocache_cache_puts_total")).toBe(0);
      expect(after('gocache_hits_by_tier_total{tier="local"}') - before('gocache_hits_by_tier_total{tier="local"}')).toBe(d.cache_gets!);
      expect(after("gocache_get_duration_seconds_count") - before("gocache_get_duration_seconds_count")).toBe(d.cache_gets!);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("a go command killed mid-build does not disturb the others", async () => {
    const server = await startServe();
    try {
      const goEnv = isolatedGoEnv();
      const victimDir = sampleModule("victim");
      const victim = Bun.spawn(["go", "build", "./..."], { cwd: victimDir, env: { ...process.env, ...connectEnv(server.port, goEnv) }, stdout: "ignore", stderr: "ignore" });
      const survivor = runGo(["build", "./..."], { cwd: sampleModule("survivor"), env: connectEnv(server.port, goEnv) });
      await Bun.sleep(1500);
      victim.kill("SIGKILL");
      await victim.exited;
      expectOk(await survivor);
      expectOk(await runGo(["build", "./..."], { cwd: victimDir, env: connectEnv(server.port, goEnv) }));
      expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
      expect(checkStore(server.cacheDir).problems).toEqual([]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("connect with no server: one clear line naming the address and how to start it", async () => {
    const port = await freePort();
    const p = Bun.spawn([binary(), "connect", String(port)], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(1);
    expect(out).toBe("");
    expect(err.trim().split("\n").length).toBe(1);
    expect(err).toContain(`127.0.0.1:${port}`);
    expect(err).toContain(`go-cache-plugin serve --plugin ${port}`);
  });

  test("a Unix socket is created 0600 and serves builds", async () => {
    const sock = join(tempDir("sock"), "plugin.sock");
    const server = await startServe(["--socket", sock]);
    try {
      expect(statSync(sock).mode & 0o777).toBe(0o600);
      expectOk(await runGo(["build", "./..."], { cwd: sampleModule("unix"), env: connectEnv(sock) }));
      expect((await server.metrics())("gocache_cache_puts_total")).toBeGreaterThan(10);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  test("SIGTERM drains uploads to the bucket and exits 0; close never waited for S3", async () => {
    const s3 = await startS3Server();
    try {
      const bucket = bucketName("serve");
      await s3.createBucket(bucket);
      const server = await startServe([...s3Flags(s3, bucket), "-u", "1"], pluginS3Env(s3));
      const r = await runGo(["build", "./..."], { cwd: sampleModule("drain"), env: connectEnv(server.port) });
      expectOk(r);
      expect(await server.stop("SIGTERM")).toBe(0);
      expect(server.log()).toContain("SIGTERM");
      const local = checkStore(server.cacheDir);
      const remote = (await listKeys(s3, bucket)).filter((k) => k.startsWith("action/"));
      expect(remote.length).toBe(local.actions);
    } finally {
      await s3.destroy();
    }
  });

  test("a second signal exits at once while a connection is still open", async () => {
    const server = await startServe();
    const raw = await rawConnect({ port: server.port }, { secret: tokenFor(server.port) });
    raw.write(line({ ID: 1, Command: "get", ActionID: actionId("open") }));
    await raw.waitFor('"Miss":true'); // an admitted session: shutdown waits for it
    const client = raw.socket;
    await Bun.sleep(100);
    server.proc.kill("SIGTERM");
    await Bun.sleep(300);
    expect(server.proc.exitCode).toBeNull(); // waiting for the open connection
    const code = await server.stop("SIGTERM");
    expect(code).toBe(1);
    expect(server.log()).toContain("again: exiting now");
    client.end();
  });

  test("serve without --plugin or --socket is a usage error", async () => {
    const p = Bun.spawn([binary(), "serve"], { stdout: "pipe", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(2);
    expect(err).toContain("serve needs --plugin PORT or --socket PATH");
  });
});
