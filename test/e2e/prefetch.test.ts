/** Fresh runners at real network latency: manifests, prefetch, one round trip per hit. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { expectOk, isolatedGoEnv, parseMetrics, runGo, sampleModule, writeModule, type GoResult } from "../support/go.ts";
import { s3Client, startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, listKeys, pluginS3Env, readKey, writeKey } from "../support/bucket.ts";
import { checkStore } from "../support/store.ts";
import { startLatencyProxy, type LatencyProxy } from "../support/latency-proxy.ts";

let s3: S3Server;
let slow: LatencyProxy;
beforeAll(async () => {
  s3 = await startS3Server();
  slow = startLatencyProxy({ hostname: "127.0.0.1", port: s3.port }, 25);
});
afterAll(async () => {
  slow?.stop();
  await s3?.destroy();
  cleanupTempDirs();
});


/** A runner with its own empty cache directory; `endpoint` picks direct or latency-injected S3. */
function runner(bucket: string, endpoint: string, goEnv: Record<string, string>) {
  binary();
  const cacheDir = tempDir("runner");
  const flags = ["--cache-dir", cacheDir, "-v", "--bucket", bucket, "--s3-endpoint-url", endpoint, "--s3-path-style", "--region", "us-east-1", "--upload-timeout", "60s"];
  const env = { ...goEnv, ...pluginS3Env(s3), GOCACHEPROG: [BINARY, ...flags].join(" ") };
  const out = tempDir("bin");
  return { cacheDir, out, env, build: (cwd: string) => runGo(["build", "-o", out, "./..."], { cwd, env }) };
}

const keyOf = (stderr: string, verb: "wrote manifest" | "prefetching from manifest") => new RegExp(`${verb} (\\S+)`).exec(stderr)?.[1];

describe("manifests and prefetch", () => {
  test("a fresh runner behind 25 ms of latency builds with zero compiles from the manifest; a stale manifest still builds", async () => {
    const bucket = bucketName("prefetch");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const mod = sampleModule("prefetch");
    const a = await runner(bucket, s3.endpoint, goEnv).build(mod);
    expectOk(a);
    expect(parseMetrics(a.stderr).remote_manifests_written).toBe(1);

    const b = await runner(bucket, slow.endpoint, goEnv).build(mod);
    expectOk(b);
    const mb = parseMetrics(b.stderr);
    expect(mb.cache_bytes_in).toBe(0); // zero compiles
    expect(mb.remote_manifests_found).toBe(1);
    expect(mb.remote_prefetched).toBeGreaterThan(20);
    expect(mb.remote_prefetch_hits).toBeGreaterThan(20);
    expect(keyOf(b.stderr, "prefetching from manifest")).toBe(keyOf(a.stderr, "wrote manifest")!);
    expect(mb.remote_prefetch_packs).toBe(1); // the small outputs came in one request

    // Stale: remove half of the outputs, every ax record and the pack (so nothing is inline).
    const keys = await listKeys(s3, bucket);
    const doomed = [
      ...keys.filter((k) => k.startsWith("zoutput/")).filter((_, i) => i % 2 === 0),
      ...keys.filter((k) => k.startsWith("ax/") || k.startsWith("pack/")),
    ];
    const client = s3Client(s3);
    await Promise.all(doomed.map((Key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
    const rc = runner(bucket, slow.endpoint, goEnv);
    const c = await rc.build(mod);
    expectOk(c);
    const hello = Bun.spawnSync([`${rc.out}/hello`]);
    expect(hello.stdout.toString().trim()).toBe("HELLO PREFETCH!"); // the build is correct, not just successful
    const mc = parseMetrics(c.stderr);
    expect(mc.remote_manifests_found).toBe(1);
    expect(mc.cache_bytes_in).toBeGreaterThan(0); // what was deleted is compiled again
  });

  test("a tampered pack is never served: its outputs are fetched one by one and the build has zero compiles", async () => {
    const bucket = bucketName("pack");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const mod = sampleModule("pack");
    expectOk(await runner(bucket, s3.endpoint, goEnv).build(mod));
    const packs = (await listKeys(s3, bucket)).filter((k) => /^pack\/[0-9a-f]{64}$/.test(k));
    expect(packs.length).toBe(1);
    const stored = await readKey(s3, bucket, packs[0]!);
    const zstd = stored[0] === 0x28 && stored[1] === 0xb5 && stored[2] === 0x2f && stored[3] === 0xfd; // --compression zstd: one frame
    const flipped = (zstd ? Bun.zstdDecompressSync(stored) : stored).slice();
    for (let i = flipped.length - 1; i >= flipped.length - 64 && i >= 0; i--) flipped[i]! ^= 0xff; // the last outputs' bytes
    // Re-framed, so the pack still decodes and only its outputs are wrong: they must be caught one by one.
    await writeKey(s3, bucket, packs[0]!, zstd ? Bun.zstdCompressSync(flipped) : flipped);

    const rb = runner(bucket, s3.endpoint, goEnv);
    const b = await rb.build(mod);
    expectOk(b);
    const mb = parseMetrics(b.stderr);
    expect(mb.cache_bytes_in).toBe(0);
    expect(mb.remote_prefetch_packs).toBe(1);
    expect(checkStore(rb.cacheDir).problems).toEqual([]); // every object's SHA-256 is its name
    const hello = Bun.spawnSync([`${rb.out}/hello`]);
    expect(hello.stdout.toString().trim()).toBe("HELLO PACK!");
  });

  test("a cold build's manifest is replaced by the first fresh runner's; one that describes a session exactly is not rewritten", async () => {
    const bucket = bucketName("describes");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const mod = sampleModule("describes");
    const build = (r: ReturnType<typeof runner>) => runGo(["build", "./..."], { cwd: mod, env: r.env });
    const a = await build(runner(bucket, s3.endpoint, goEnv));
    expectOk(a);

    /** A fresh runner: prefetches from the manifest `previous` wrote and compiles nothing. */
    const freshAfter = async (previous: { stderr: string }) => {
      const r = await build(runner(bucket, slow.endpoint, goEnv));
      expectOk(r);
      const m = parseMetrics(r.stderr);
      expect(keyOf(r.stderr, "prefetching from manifest")).toBe(keyOf(previous.stderr, "wrote manifest")!);
      if (m.cache_bytes_in !== 0) throw new Error(`the fresh runner compiled (${m.cache_bytes_in} bytes put); its log:\n${r.stderr}`);
      return { ...r, m };
    };

    const b = await freshAfter(a);
    // A's cold build listed entries a warm build never asks for: B files a manifest of what it used.
    expect(b.m.remote_manifests_written).toBe(1);

    const c = await freshAfter(b);
    expect(c.m.remote_prefetch_wasted_bytes).toBe(0);
    expect(c.m.remote_manifests_written ?? 0).toBe(0);
  });

  test("two different builds sharing a bucket each find their own manifest", async () => {
    const bucket = bucketName("twobuilds");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const x = sampleModule("x");
    const y = writeModule({ "calc/calc.go": `package calc\n\nimport "sort"\n\nfunc Median(v []int) int { sort.Ints(v); return v[len(v)/2] }\n`, "main.go": `package main\n\nimport (\n\t"fmt"\n\n\t"example.com/y/calc"\n)\n\nfunc main() { fmt.Println(calc.Median([]int{3, 1, 2})) }\n` }, "example.com/y");
    const ax = await runner(bucket, s3.endpoint, goEnv).build(x);
    expectOk(ax);
    const ay = await runner(bucket, s3.endpoint, goEnv).build(y);
    expectOk(ay);
    const xKey = keyOf(ax.stderr, "wrote manifest")!;
    const yKey = keyOf(ay.stderr, "wrote manifest")!;
    expect(xKey).toBeDefined();
    expect(yKey).toBeDefined();
    expect(xKey).not.toBe(yKey);

    const by = await runner(bucket, slow.endpoint, goEnv).build(y);
    expectOk(by);
    expect(keyOf(by.stderr, "prefetching from manifest")).toBe(yKey);
    const bx = await runner(bucket, slow.endpoint, goEnv).build(x);
    expectOk(bx);
    expect(keyOf(bx.stderr, "prefetching from manifest")).toBe(xKey);
    const m = parseMetrics(bx.stderr);
    if (m.cache_bytes_in !== 0) console.error(bx.stderr); // diagnosis if this ever fails
    expect(m.cache_bytes_in).toBe(0);
    expect(m.remote_prefetch_hits).toBeGreaterThan(20);
  });
});
