/** The remote tier: real go commands, the compiled binary, a real S3-compatible server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { expectOk, isolatedGoEnv, parseMetrics, runGo, sampleModule, type GoResult } from "../support/go.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, listKeys, pluginS3Env, readKey, s3Flags, writeKey } from "../support/bucket.ts";
import { checkStore } from "../support/store.ts";
import { actionId, line, putFrame, reply, runPlugin, sha256 } from "../support/plugin.ts";

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); cleanupTempDirs(); });

function processAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

const hex = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");


/** One "runner": its own cache directory and GOCACHE, the shared bucket. */
function runner(bucket: string, extra: string[] = [], goEnv = isolatedGoEnv()) {
  binary();
  const cacheDir = tempDir("runner");
  const env = { ...goEnv, ...pluginS3Env(s3), GOCACHEPROG: [BINARY, "--cache-dir", cacheDir, "--metrics", "--upload-timeout", "20s", ...s3Flags(s3, bucket), ...extra].join(" ") };
  return { cacheDir, build: (cwd: string, args = ["build", "./..."]) => runGo(args, { cwd, env }) };
}

describe("S3 remote tier", () => {
  test("runner B with an empty cache builds what runner A built with zero compiles, and the bucket layout is as documented", async () => {
    const bucket = bucketName("share");
    await s3.createBucket(bucket);
    const mod = sampleModule("s3");
    const goEnv = isolatedGoEnv(); // same GOPATH/GOMODCACHE paths on both runners, as on identical CI images
    const a = runner(bucket, ["--prefix", "team/ci", "--compression", "none"], goEnv); // the compatible layout
    const cold = await a.build(mod);
    expectOk(cold);
    const ma = parseMetrics(cold.stderr);
    expect(ma.remote_upload_queue).toBe(0); // all uploads finished before exit
    expect(ma.remote_uploads).toBeGreaterThan(10);

    const b = runner(bucket, ["--prefix", "team/ci", "--compression", "none"], goEnv); // what B puts (a few entries A never stored) stays in the same layout
    const warm = await b.build(mod);
    expectOk(warm);
    const mb = parseMetrics(warm.stderr);
    expect((mb.remote_hits ?? 0) + (mb.remote_prefetch_hits ?? 0)).toBeGreaterThan(10); // fetched on demand or by the manifest prefetch
    expect(mb.cache_bytes_in).toBe(0); // nothing compiled or linked on runner B
    expect(checkStore(b.cacheDir).problems).toEqual([]);

    // Layout: [prefix/]action/<xx>/<action hex> = "<output hex> <unix nanos>", [prefix/]output/<xx>/<output hex> = bytes.
    const keys = await listKeys(s3, bucket);
    expect(keys.length).toBeGreaterThan(20);
    const actions = keys.filter((k) => k.startsWith("team/ci/action/"));
    const outputs = keys.filter((k) => k.startsWith("team/ci/output/"));
    // Besides the compatible layout: ax records (one per action), one manifest, its pack and its index entries.
    const ax = keys.filter((k) => k.startsWith("team/ci/ax/"));
    const manifests = keys.filter((k) => /^team\/ci\/manifest\/[0-9a-f]{64}$/.test(k));
    const packs = keys.filter((k) => /^team\/ci\/pack\/[0-9a-f]{64}$/.test(k));
    const index = keys.filter((k) => k.startsWith("team/ci/manifest-index/"));
    expect(ax.length).toBe(actions.length);
    expect(manifests.length).toBeGreaterThanOrEqual(1);
    expect(packs.map((k) => k.replace("/pack/", "/manifest/"))).toEqual(manifests); // one pack per manifest, same hash
    expect(index.length).toBeGreaterThan(0);
    expect(actions.length + outputs.length + ax.length + manifests.length + packs.length + index.length).toBe(keys.length);
    for (const k of [...actions, ...outputs, ...ax, ...index]) {
      const m = /^team\/ci\/(action|output|ax|manifest-index)\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(k);
      expect(m).not.toBeNull();
      expect(m![3]!.slice(0, 2)).toBe(m![2]!);
    }
    const outputIds = new Set(outputs.map((k) => k.split("/").at(-1)));
    for (const k of actions.slice(0, 25)) {
      const text = new TextDecoder().decode(await readKey(s3, bucket, k));
      const m = /^([0-9a-f]{64}) (\d{18,20})$/.exec(text);
      expect(m).not.toBeNull();
      expect(outputIds.has(m![1]!)).toBe(true);
      expect(Math.abs(Number(BigInt(m![2]!) / 1_000_000n) - Date.now())).toBeLessThan(3_600_000);
    }
    for (const k of outputs.slice(0, 25)) expect(hex(await readKey(s3, bucket, k))).toBe(k.split("/").at(-1)!);
  });

  test("S3 stopped mid-build: the build succeeds, the journal keeps the uploads, the next process uploads them", async () => {
    const bucket = bucketName("outage");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const a = runner(bucket, ["--upload-timeout", "3s"], goEnv);
    const mod = sampleModule("outage");
    const building = a.build(mod);
    await Bun.sleep(1500);
    await s3.stop();
    const journalDir = join(a.cacheDir, "v1", "journal");
    try {
      const r = await building;
      expectOk(r);
      expect(r.stderr).toMatch(/uploads still pending|retrying in/);
      const journaled = readdirSync(journalDir).filter((f) => f.endsWith(".log"));
      expect(journaled.length).toBe(1);
      // The build is over; the plugin gives up on the dead bucket soon after and leaves its journal.
      const pid = Number(journaled[0]!.split("-")[1]);
      for (let i = 0; i < 100 && processAlive(pid); i++) await Bun.sleep(100);
      expect(processAlive(pid)).toBe(false);
      expect(existsSync(join(journalDir, journaled[0]!))).toBe(true);
    } finally {
      await s3.start();
    }

    // Any later process on this cache directory picks the journal up; here an empty session.
    const later = await runPlugin(["--cache-dir", a.cacheDir, "-v", ...s3Flags(s3, bucket)], line({ ID: 1, Command: "close" }), pluginS3Env(s3));
    expect(later.exitCode).toBe(0);
    expect(later.stderr).toMatch(/resuming \d+ uploads/);
    expect(readdirSync(journalDir).filter((f) => f.endsWith(".log"))).toEqual([]);
    const local = checkStore(a.cacheDir);
    const remoteActions = (await listKeys(s3, bucket)).filter((k) => k.startsWith("action/"));
    expect(remoteActions.length).toBe(local.actions);

    const b = runner(bucket, [], goEnv);
    const warm = await b.build(mod);
    expectOk(warm);
    expect(parseMetrics(warm.stderr).cache_bytes_in).toBe(0);
  });

  test("a put acknowledged before kill -9 is uploaded by the next process", async () => {
    const bucket = bucketName("kill");
    await s3.createBucket(bucket);
    const cacheDir = tempDir("killed");
    const bodies = [1, 2, 3].map((i) => new TextEncoder().encode(`output number ${i}\n`.repeat(100 * i)));
    await s3.stop(); // uploads cannot finish before the kill
    const proc = Bun.spawn([binary(), "--cache-dir", cacheDir, ...s3Flags(s3, bucket)], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...pluginS3Env(s3) } });
    const out = proc.stdout.getReader();
    let text = "";
    for (const [i, body] of bodies.entries()) proc.stdin.write(putFrame(i + 1, actionId(`kill${i}`), body));
    proc.stdin.flush();
    while ((text.match(/"DiskPath"/g) ?? []).length < 3) {
      const { value, done } = await out.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect((text.match(/"DiskPath"/g) ?? []).length).toBe(3);
    proc.kill("SIGKILL");
    await proc.exited;
    await s3.start();
    const later = await runPlugin(["--cache-dir", cacheDir, ...s3Flags(s3, bucket)], line({ ID: 1, Command: "close" }), pluginS3Env(s3));
    expect(later.exitCode).toBe(0);
    const keys = await listKeys(s3, bucket);
    for (const [i, body] of bodies.entries()) {
      expect(keys).toContain(`zoutput/${hex(body).slice(0, 2)}/${hex(body)}`);
      const aid = Buffer.from(actionId(`kill${i}`), "base64").toString("hex");
      expect(keys).toContain(`action/${aid.slice(0, 2)}/${aid}`);
    }
  });

  test("an unreachable bucket degrades gets to misses with one warning, and the build succeeds", async () => {
    const env = { ...isolatedGoEnv(), ...pluginS3Env(s3), GOCACHEPROG: `${BINARY} --cache-dir ${tempDir("down")} --metrics --upload-timeout 2s --bucket nowhere --s3-endpoint-url http://127.0.0.1:9 --s3-path-style --region us-east-1` };
    const r = await runGo(["build", "./..."], { cwd: sampleModule("down"), env });
    expectOk(r);
    const warnings = r.stderr.split("\n").filter((l) => l.includes("treating remote reads as misses"));
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/\[remote\] read action [0-9a-f]{64}/);
    expect(parseMetrics(r.stderr).cache_errors).toBe(0); // misses, never Err
  });
});
