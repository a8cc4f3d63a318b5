/** `gc` on a real S3 server with builds of the real go command: deleted by last use, never what is in use. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { expectOk, isolatedGoEnv, missedActions, parseMetrics, runGo, sampleModule, writeModule } from "../support/go.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, listKeys, pluginS3Env, s3Flags } from "../support/bucket.ts";
import { checkStore } from "../support/store.ts";
import { runCommand } from "../support/plugin.ts";

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); cleanupTempDirs(); });


const X = () => sampleModule("gcx");
const Y = () => writeModule({ "calc/calc.go": `package calc\n\nimport "sort"\n\nfunc Median(v []int) int { sort.Ints(v); return v[len(v)/2] }\n`, "main.go": `package main\n\nimport (\n\t"fmt"\n\n\t"example.com/y/calc"\n)\n\nfunc main() { fmt.Println(calc.Median([]int{3, 1, 2})) }\n` }, "example.com/y");

/** A runner: its own cache directory; builds leave a trace of use at most once a second. */
function runner(bucket: string, goEnv = isolatedGoEnv(), extra: string[] = []) {
  binary();
  const cacheDir = tempDir("runner");
  const env = { ...goEnv, ...pluginS3Env(s3), GOCACHEPROG: [BINARY, "--cache-dir", cacheDir, "-v", "--use-interval", "1s", ...s3Flags(s3, bucket), ...extra].join(" ") };
  return { cacheDir, build: async (cwd: string) => { const r = await runGo(["build", "-o", tempDir("bin"), "./..."], { cwd, env }); expectOk(r); return { ...r, m: parseMetrics(r.stderr) }; } };
}

const gc = (bucket: string, args: string[]) => runCommand(["gc", "--use-interval", "1s", ...s3Flags(s3, bucket), ...args], pluginS3Env(s3));

/** --older-than putting gc's cutoff at `at` (gc subtracts the use interval too). */
const olderThan = (at: number) => `${((Date.now() - at) / 1000 - 1).toFixed(3)}s`;
/** Object times have one-second resolution on S3: keep two seconds on each side of a cutoff. */
async function between(): Promise<number> {
  await Bun.sleep(2100);
  const t = Date.now();
  await Bun.sleep(2100);
  return t;
}
const manifests = (keys: string[]) => keys.filter((k) => k.startsWith("manifest/"));

/**
 * A fresh runner's build after gc: it compiles nothing that gc deleted. (The
 * go command may miss an entry no runner ever put, now and then: what counts
 * is that no miss is for an action whose records gc removed.)
 */
async function freshFindsAll(bucket: string, goEnv: Record<string, string>, cwd: string, before: string[], after: string[]) {
  const r = await runner(bucket, goEnv, ["--debug", "1"]).build(cwd);
  const gone = before.filter((k) => !after.includes(k));
  expect(missedActions(r.stderr).filter((id) => gone.some((k) => k.endsWith(id)))).toEqual([]);
  expect(r.m.cache_misses ?? 0).toBeLessThanOrEqual(2);
  return r;
}

describe("gc", () => {
  test("build X, later build Y: gc between them deletes what only X used, keeps what Y used (std included); --dry-run deletes nothing", async () => {
    const bucket = bucketName("gc");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const x = X(), y = Y();
    const a = runner(bucket, goEnv);
    await a.build(x);
    const t = await between();
    await a.build(y); // std: local hits, in Y's manifest
    const before = await listKeys(s3, bucket);
    expect(manifests(before).length).toBe(2);

    const dry = await gc(bucket, ["--older-than", olderThan(t), "--dry-run"]);
    expect(dry.exitCode).toBe(0);
    const listed = dry.stdout.split("\n").filter((l) => before.includes(l));
    expect(listed.length).toBeGreaterThan(3);
    expect(dry.stdout).toContain("would delete");
    expect(await listKeys(s3, bucket)).toEqual(before);

    const real = await gc(bucket, ["--older-than", olderThan(t), "--json"]);
    expect(real.exitCode).toBe(0);
    const report = JSON.parse(real.stdout);
    const after = await listKeys(s3, bucket);
    expect(after.length).toBe(before.length - listed.length);
    expect(before.filter((k) => !after.includes(k)).sort()).toEqual(listed.sort()); // exactly what the dry run listed
    expect(report.kinds.manifest.deleted).toBe(1);
    expect(report.kinds.ax.deleted).toBeGreaterThan(0);
    expect(manifests(after).length).toBe(1);

    await freshFindsAll(bucket, goEnv, y, before, after); // no extra misses: everything Y used is there
    const freshX = await runner(bucket, goEnv).build(x);
    expect(freshX.m.cache_bytes_in).toBeGreaterThan(0); // X's own packages are gone
    expect((freshX.m.remote_hits ?? 0) + (freshX.m.remote_prefetch_hits ?? 0)).toBeGreaterThan(10); // std, shared with Y, is not
  });

  test("a warm build with only local hits counts as use: gc after it keeps everything it used", async () => {
    const bucket = bucketName("gc-warm");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const x = X();
    const a = runner(bucket, goEnv);
    await a.build(x);
    const t = await between();
    const warm = await a.build(x);
    expect(warm.m.remote_hits ?? 0).toBe(0); // all local
    expect(warm.stderr).toMatch(/wrote manifest/); // what a warm build asks for (the cold build's listed more)
    await Bun.sleep(1100);
    const again = await a.build(x);
    expect(again.stderr).toMatch(/refreshed manifest/); // the same entries, older than the interval: rewritten
    const before = await listKeys(s3, bucket);
    const r = await gc(bucket, ["--older-than", olderThan(t), "--json"]);
    expect(r.exitCode).toBe(0);
    const kinds = JSON.parse(r.stdout).kinds;
    expect(kinds.manifest).toMatchObject({ scanned: 2, deleted: 1 }); // the cold build's goes (it listed entries no build asked for since)
    expect(kinds.ax.deleted).toBeLessThan(kinds.ax.scanned);
    await freshFindsAll(bucket, goEnv, x, before, await listKeys(s3, bucket));
  });

  test("--max-size deletes the least recently used first until the prefix fits; a build running meanwhile succeeds", async () => {
    const bucket = bucketName("gc-size");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const x = X(), y = Y();
    const a = runner(bucket, goEnv);
    await a.build(x);
    await between();
    await a.build(y);
    await Bun.sleep(1100); // past the use interval, which --max-size never cuts into
    const sizeOf = async () => {
      const r = await gc(bucket, ["--older-than", "1000h", "--json", "--dry-run"]);
      const kinds = JSON.parse(r.stdout).kinds as Record<string, { scannedBytes: number }>;
      return Object.values(kinds).reduce((n, k) => n + k.scannedBytes, 0);
    };
    const total = await sizeOf();
    const yManifest = manifests(await listKeys(s3, bucket)).length;
    expect(yManifest).toBe(2);
    const before = await listKeys(s3, bucket);
    const [r, during] = await Promise.all([gc(bucket, ["--older-than", "1000h", "--max-size", String(total - 1), "--json"]), runner(bucket, goEnv).build(x)]);
    expect(during.exitCode).toBe(0);
    expect(r.exitCode).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.maxSizeReached).toBe(true);
    expect(report.kinds.manifest.deleted).toBeGreaterThanOrEqual(1);
    expect(await sizeOf()).toBeLessThanOrEqual(total - 1 + 1_000_000); // the racing build may have added its own
    await freshFindsAll(bucket, goEnv, y, before, await listKeys(s3, bucket)); // Y, the most recent, kept
    const c = runner(bucket, goEnv);
    await c.build(y);
    expect(checkStore(c.cacheDir).problems).toEqual([]);
  });

  test("usage errors: no --older-than, no bucket", async () => {
    const noAge = await gc(bucketName("x"), []);
    expect(noAge.exitCode).toBe(2);
    expect(noAge.stderr).toContain("gc needs --older-than");
    const proc = Bun.spawn([binary(), "gc", "--older-than", "1h"], { env: { ...process.env, GOCACHE_S3_BUCKET: "" }, stdout: "pipe", stderr: "pipe" });
    expect(await proc.exited).toBe(2);
    expect(await new Response(proc.stderr).text()).toContain("gc needs --bucket");
  });
});
