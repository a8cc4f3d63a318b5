/**
 * The remote tier on every backend, with the real go command and the
 * compiled binary: each backend's real server or emulator (test/support/
 * backends.ts) runs the same suite, so a new backend is proven end to end by
 * one line there.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { expectOk, isolatedGoEnv, missedActions, parseMetrics, runGo, sampleModule, writeModule, type GoResult } from "../support/go.ts";
import { BACKENDS, type BackendServer } from "../support/backends.ts";
import { checkStore } from "../support/store.ts";
import { actionId, line, putFrame, reply, runCommand, runPlugin, sha256 } from "../support/plugin.ts";
import { fakeModules, startFakeProxy, type FakeProxy } from "../support/fakeproxy.ts";
import { startServe } from "../support/serve.ts";

afterAll(cleanupTempDirs);


const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

describe.each(BACKENDS)("remote tier on %s", (_label, start) => {
  let server: BackendServer;
  beforeAll(async () => { server = await start(); }, 60_000);
  afterAll(async () => { await server?.destroy(); }, 60_000);

  /** One "runner": its own cache directory and GOCACHE, the shared bucket. */
  const runner = (bucket: string, extra: string[] = [], goEnv = isolatedGoEnv()) => {
    binary();
    const env = { ...goEnv, ...server.env(), GOCACHEPROG: [BINARY, "--cache-dir", tempDir("runner"), "--metrics", "--upload-timeout", "20s", ...server.flags(bucket), ...extra].join(" ") };
    return { build: (cwd: string) => runGo(["build", "./..."], { cwd, env }), cacheDir: env.GOCACHEPROG.split(" ")[2]! };
  };

  test("a fresh runner B builds what runner A built with zero compiles; the keys are the same layout on every backend", async () => {
    const bucket = await server.createBucket("share");
    const mod = sampleModule(`share-${server.name}`);
    const goEnv = isolatedGoEnv();
    const cold = await runner(bucket, ["--prefix", "ci"], goEnv).build(mod);
    expectOk(cold);
    const mc = parseMetrics(cold.stderr);
    expect(mc.remote_upload_queue).toBe(0);
    expect(mc.remote_compression_ratio).toBeGreaterThan(1.5); // zstd by default
    expect(mc.remote_upload_stored_bytes).toBeLessThan(mc.remote_upload_bytes! / 1.5);
    const b = runner(bucket, ["--prefix", "ci"], goEnv);
    const warm = await b.build(mod);
    expectOk(warm);
    const m = parseMetrics(warm.stderr);
    expect((m.remote_hits ?? 0) + (m.remote_prefetch_hits ?? 0)).toBeGreaterThan(10);
    expect(m.cache_bytes_in).toBe(0); // nothing compiled or linked on runner B
    expect(checkStore(b.cacheDir).problems).toEqual([]);
    const keys = await server.listKeys(bucket);
    const kinds = new Set(keys.map((k) => /^ci\/(action|output|zoutput|ax|manifest|manifest-index|pack)\//.exec(k)?.[1] ?? `unexpected ${k}`));
    expect([...kinds].sort()).toEqual(["action", "ax", "manifest", "manifest-index", "pack", "zoutput"]);
  });

  test("an object tampered with in the bucket is never served", async () => {
    const bucket = await server.createBucket("tamper");
    const mod = sampleModule(`tamper-${server.name}`);
    const goEnv = isolatedGoEnv();
    expectOk(await runner(bucket, [], goEnv).build(mod));
    const keys = await server.listKeys(bucket);
    for (const k of keys.filter((k) => k.startsWith("zoutput/") || k.startsWith("pack/") || k.startsWith("ax/"))) {
      const body = await server.readKey(bucket, k);
      if (body.length > 0) await server.writeKey(bucket, k, body.map((x) => x ^ 0xff)); // same size, other bytes
    }
    const outputs = keys.filter((k) => k.startsWith("zoutput/"));
    const inflate = (b: Uint8Array) => { try { return Bun.zstdDecompressSync(b); } catch { return b; } };
    const bad = async () => {
      let n = 0;
      for (const k of outputs) if (sha(inflate(await server.readKey(bucket, k))) !== k.split("/").at(-1)) n++;
      return n;
    };
    const before = await bad();
    const c = runner(bucket, [], goEnv);
    const r = await c.build(mod);
    expectOk(r);
    const m = parseMetrics(r.stderr);
    expect(m.remote_corrupt).toBeGreaterThan(5);
    expect(r.stderr).toContain("tampered or corrupt in the bucket");
    expect(m.cache_bytes_in).toBeGreaterThan(0); // compiled again instead
    expect(checkStore(c.cacheDir).problems).toEqual([]); // every local object matches its name
    // The rebuilt outputs replace the bad copies (a conditional write would have kept them for good).
    let after = await bad();
    for (let i = 0; i < 50 && after > before - 5; i++) { await Bun.sleep(200); after = await bad(); }
    expect(after).toBeLessThanOrEqual(before - 5);
  });

  test("--compression none writes the compatible layout byte for byte; readers of either setting serve both", async () => {
    const bucket = await server.createBucket("compression");
    const goEnv = isolatedGoEnv();
    const raw = sampleModule(`raw-${server.name}`);
    expectOk(await runner(bucket, ["--compression", "none"], goEnv).build(raw));
    const keys = await server.listKeys(bucket);
    const outputs = keys.filter((k) => k.startsWith("output/"));
    expect(outputs.length).toBeGreaterThan(10);
    expect(keys.filter((k) => k.startsWith("zoutput/"))).toEqual([]);
    for (const k of outputs.slice(0, 20)) expect(sha(await server.readKey(bucket, k))).toBe(k.split("/").at(-1)!); // the raw output itself
    const zstdReader = await runner(bucket, [], goEnv).build(raw);
    expectOk(zstdReader);
    expect(parseMetrics(zstdReader.stderr).cache_bytes_in).toBe(0);

    const z = sampleModule(`zstd-${server.name}`);
    expectOk(await runner(bucket, [], goEnv).build(z));
    const rawReader = await runner(bucket, ["--compression", "none"], goEnv).build(z);
    expectOk(rawReader);
    expect(parseMetrics(rawReader.stderr).cache_bytes_in).toBe(0);
  });

  test("--read-only reads what others wrote and writes nothing", async () => {
    const bucket = await server.createBucket("readonly");
    const goEnv = isolatedGoEnv();
    expectOk(await runner(bucket, ["--read-only"], goEnv).build(sampleModule(`ro1-${server.name}`)));
    expect(await server.listKeys(bucket)).toEqual([]);
    const mod = sampleModule(`ro2-${server.name}`);
    expectOk(await runner(bucket, [], goEnv).build(mod));
    const before = await server.listKeys(bucket);
    const ro = await runner(bucket, ["--read-only"], goEnv).build(mod);
    expectOk(ro);
    const m = parseMetrics(ro.stderr);
    expect((m.remote_hits ?? 0) + (m.remote_prefetch_hits ?? 0)).toBeGreaterThan(10);
    expect(await server.listKeys(bucket)).toEqual(before);
  });

  test("a 100 MB object round-trips through the bucket", async () => {
    const bucket = await server.createBucket("big");
    const body = new Uint8Array(100 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 997) body[i] = i % 253;
    const a = await runPlugin(["--cache-dir", tempDir("big-a"), "--metrics", ...server.flags(bucket)],
      new Blob([putFrame(1, actionId("big"), body), line({ ID: 2, Command: "close" })]), server.env());
    expect(reply(a, 1).Err).toBeUndefined();
    expect(a.stderr).toMatch(/remote_upload_bytes=104857600/);
    const b = await runPlugin(["--cache-dir", tempDir("big-b"), "--metrics", ...server.flags(bucket)],
      line({ ID: 1, Command: "get", ActionID: actionId("big") }) + line({ ID: 2, Command: "close" }), server.env());
    const hit = reply(b, 1);
    expect(hit.Size).toBe(body.length);
    expect(sha256(await Bun.file(hit.DiskPath!).bytes()).equals(sha256(body))).toBe(true);
  });

  test("a wrong or missing credential: one line naming the backend, the bucket and what to set; the get is a miss", async () => {
    const bucket = await server.createBucket("creds");
    const bad = server.badCredentials();
    const r = await runPlugin(["--cache-dir", tempDir("creds"), ...server.flags(bucket), ...(bad.flags ?? [])],
      line({ ID: 1, Command: "get", ActionID: actionId("x") }) + line({ ID: 2, Command: "get", ActionID: actionId("y") }) + line({ ID: 3, Command: "close" }), bad.env);
    expect(reply(r, 1).Miss).toBe(true);
    expect(reply(r, 2).Miss).toBe(true);
    const lines = r.stderr.split("\n").filter((l) => l.includes(`[${server.name}]`));
    expect(lines.length).toBe(1); // warned once, not per get
    for (const re of bad.says) expect(lines[0]).toMatch(re);
  });

  describe("the module proxy", () => {
    let fake: FakeProxy;
    beforeAll(async () => { fake = await startFakeProxy(fakeModules()); });
    afterAll(async () => { await fake?.stop(); });

    test("immutable files are shared through the bucket: a second server with an empty cache asks upstream for none", async () => {
      const bucket = await server.createBucket("modproxy");
      const files = ["example.com/hello/@v/v1.1.0.info", "example.com/hello/@v/v1.1.0.mod", "example.com/hello/@v/v1.1.0.zip"];
      const first = await startServe(["--modproxy", "--modproxy-upstream", fake.url, ...server.flags(bucket)], server.env());
      const bodies = await Promise.all(files.map(async (f) => new Uint8Array(await (await fetch(`${first.httpUrl}/mod/${f}`)).arrayBuffer())));
      let keys: string[] = [];
      for (let i = 0; i < 100 && !files.every((f) => keys.includes(`module/${f}`)); i++) {
        await Bun.sleep(100);
        keys = await server.listKeys(bucket);
      }
      expect(keys).toEqual(expect.arrayContaining(files.map((f) => `module/${f}`)));
      expect(await first.stop()).toBe(0);
      fake.reset();
      const second = await startServe(["--modproxy", "--modproxy-upstream", fake.url, ...server.flags(bucket)], server.env());
      try {
        const again = await Promise.all(files.map(async (f) => new Uint8Array(await (await fetch(`${second.httpUrl}/mod/${f}`)).arrayBuffer())));
        expect(again.map(sha)).toEqual(bodies.map(sha));
        expect([...fake.hits.keys()]).toEqual([]);
        expect((await second.metrics())("gocache_modproxy_cache_hits_bucket_total")).toBe(files.length);
      } finally {
        await second.stop();
      }
    });
  });
  test("wait, gc and stats: gc between two builds deletes what only the first used; stats counts the bucket as it is", async () => {
    const bucket = await server.createBucket("lifecycle");
    const goEnv = isolatedGoEnv();
    const x = sampleModule(`gc-${server.name}`);
    const y = writeModule({ "main.go": `package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("y") }\n` }, "example.com/y");
    const a = runner(bucket, ["--use-interval", "1s"], goEnv);
    expectOk(await a.build(x));
    const cmd = (args: string[]) => runCommand([...args, "--cache-dir", a.cacheDir, "--use-interval", "1s", ...server.flags(bucket)], server.env());
    expect((await cmd(["wait", "--timeout", "30s"])).exitCode).toBe(0);
    await Bun.sleep(2100);
    const cutoff = Date.now();
    await Bun.sleep(2100);
    expectOk(await a.build(y));
    const before = await server.listKeys(bucket);
    const r = await cmd(["gc", "--older-than", `${((Date.now() - cutoff) / 1000 - 1).toFixed(3)}s`, "--json"]);
    expect(r.exitCode).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.kinds.manifest.deleted).toBe(1);
    const after = await server.listKeys(bucket);
    expect(after.length).toBeLessThan(before.length);
    const fresh = await runner(bucket, ["--debug", "1"], goEnv).build(y);
    expectOk(fresh);
    // Nothing y asks for was deleted (the go command itself may miss an entry no runner ever put: compare with what gc deleted).
    const gone = before.filter((k) => !after.includes(k));
    expect(missedActions(fresh.stderr).filter((id) => gone.some((k) => k.endsWith(id)))).toEqual([]);
    expect(parseMetrics(fresh.stderr).cache_misses ?? 0).toBeLessThanOrEqual(2);
    const st = await cmd(["stats", "--json"]);
    expect(st.exitCode).toBe(0);
    const kinds = JSON.parse(st.stdout).bucket.kinds as Record<string, { objects: number }>;
    const now = await server.listKeys(bucket);
    expect(Object.values(kinds).reduce((n, k) => n + k.objects, 0)).toBe(now.length);
  });
});
