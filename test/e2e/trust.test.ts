/**
 * Trusted writers (issue 12): signed entries and read namespaces, with the
 * real go command, the compiled binary and a real S3-compatible server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { expectOk, isolatedGoEnv, parseMetrics, runGo, sampleModule, type GoResult } from "../support/go.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, listKeys, pluginS3Env, readKey, s3Flags, writeKey } from "../support/bucket.ts";
import { line, reply, runPlugin } from "../support/plugin.ts";
import { axEntries, deleteUnder, keyFile, localMappings, plantRotated, secretOf, type AxEntry } from "../support/trust.ts";
import { gunzipSync } from "node:zlib";
import { Keyring } from "../../src/remote/trust/sign.ts";

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); cleanupTempDirs(); });


/** One runner: its own cache directory, the shared bucket, `extra` flags (key file, prefixes). */
function runner(bucket: string, extra: string[], goEnv: Record<string, string>) {
  binary();
  const cacheDir = tempDir("runner");
  const flags = ["--cache-dir", cacheDir, "--metrics", "--upload-timeout", "30s", ...s3Flags(s3, bucket), ...extra];
  const env = { ...goEnv, ...pluginS3Env(s3), GOCACHEPROG: [BINARY, ...flags].join(" ") };
  const out = tempDir("bin");
  return {
    cacheDir,
    build: async (mod: string) => {
      const r = await runGo(["build", "-o", out, "./..."], { cwd: mod, env });
      expectOk(r);
      return { ...r, m: parseMetrics(r.stderr), hello: Bun.spawnSync([`${out}/hello`]).stdout.toString().trim() };
    },
    /** One get through the plugin's protocol, as the go command asks: the output it serves, or undefined on a miss. */
    get: async (actionHex: string) => {
      const r = await runPlugin(flags, line({ ID: 1, Command: "get", ActionID: Buffer.from(actionHex, "hex").toString("base64") }) + line({ ID: 2, Command: "close" }), pluginS3Env(s3));
      const g = reply(r, 1);
      return { outputId: g.Miss ? undefined : Buffer.from(g.OutputID!, "base64").toString("hex"), m: parseMetrics(r.stderr), stderr: r.stderr };
    },
  };
}

const gunzipText = (b: Uint8Array) => gunzipSync(b).toString("utf8");
const signedBy = (...ids: string[]) => ["--signing-key-file", keyFile(...ids.map((id) => `${id} ${secretOf(id)}`))];
const stranger = new Keyring([{ id: "stranger", secret: new TextEncoder().encode(secretOf("stranger")) }]);

describe("signed entries", () => {
  test.each<[string, (e: AxEntry, out: string, size: number, nanos: string) => string, "remote_unsigned" | "remote_bad_signature"]>([
    ["unsigned records (a writer without the key)", (_e, out, size, nanos) => `${out} ${nanos} ${size}`, "remote_unsigned"],
    ["a signature kept while the mapping changed (tampered)", (e, out, size, nanos) => `${out} ${nanos} ${size} ${e.line.split(" ").find((f) => f.startsWith("sig:"))}`, "remote_bad_signature"],
    ["records signed by an unknown key id", (e, out, size, nanos) => `${out} ${nanos} ${size} sig:${stranger.sign("entry", "", [e.actionId, out, size, nanos])}`, "remote_bad_signature"],
  ])("planted %s: a signed runner rebuilds and never serves them; a runner without a key would", async (_n, plant, counter) => {
    const bucket = bucketName("plant");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const mod = sampleModule("trust");
    await runner(bucket, signedBy("k1"), goEnv).build(mod);
    const genuine = await axEntries(s3, bucket);
    expect(genuine.length).toBeGreaterThan(10);
    for (const e of genuine) expect(e.line).toMatch(/ sig:k1:[0-9a-f]{64}$/);
    const planted = await plantRotated(s3, bucket, genuine, plant);
    // The plant poisons a runner without a key (the records are real, the outputs valid); not one with the key.
    const victim = genuine.find((e) => e.size > 0)!;
    const plain = await runner(bucket, ["--read-only"], goEnv).get(victim.actionId); // read-only: it leaves no manifest of its own
    expect(plain.outputId).toBe(planted.get(victim.actionId)!);
    const keyed = await runner(bucket, signedBy("k1"), goEnv).get(victim.actionId);
    expect(keyed.outputId).toBeUndefined();
    expect(keyed.m[counter]).toBe(1);

    // A signed runner's build (whose uploads then replace the planted records).
    const b = runner(bucket, signedBy("k1"), goEnv);
    const r = await b.build(mod);
    expect(r.hello).toBe("HELLO TRUST!");
    expect(r.m.remote_hits ?? 0).toBe(0);
    expect(r.m.remote_prefetched ?? 0).toBe(0);
    expect(r.m[counter]).toBeGreaterThan(10);
    expect(r.m.cache_bytes_in).toBeGreaterThan(0); // rebuilt
    const local = localMappings(b.cacheDir);
    const original = new Map(genuine.map((e) => [e.actionId, e.outputId]));
    let compared = 0;
    for (const [action, output] of local) {
      if (!planted.has(action)) continue;
      compared++;
      expect(output).not.toBe(planted.get(action)!);
      expect(output).toBe(original.get(action)!); // rebuilt to the very same output: the build is reproducible
    }
    expect(compared).toBeGreaterThan(5);
    expect(r.stderr.split("\n").filter((l) => l.includes("[trust] ignoring")).length).toBe(1); // warned once

  });

  test("the compatible action/ layout (unsigned) is ignored in signed mode and served without a key", async () => {
    const bucket = bucketName("compat");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const mod = sampleModule("compat");
    await runner(bucket, ["--compression", "none"], goEnv).build(mod);
    await deleteUnder(s3, bucket, "ax/"); // what the Go original leaves: action/ and output/ only
    await deleteUnder(s3, bucket, "manifest");
    await deleteUnder(s3, bucket, "pack/");
    const signed = await runner(bucket, signedBy("k1"), goEnv).build(mod);
    expect(signed.m.remote_hits ?? 0).toBe(0);
    expect(signed.m.remote_unsigned).toBeGreaterThan(10);
    expect(signed.m.cache_bytes_in).toBeGreaterThan(0);
    expect(signed.hello).toBe("HELLO COMPAT!");
    await deleteUnder(s3, bucket, "ax/"); // the signed runner's own uploads: not what this test is about
    await deleteUnder(s3, bucket, "manifest");
    const plain = await runner(bucket, [], goEnv).build(mod);
    expect(plain.m.remote_hits).toBeGreaterThan(10);
    expect(plain.m.cache_bytes_in).toBe(0);
    expect(plain.m.remote_unsigned ?? 0).toBe(0);
  });

  test("rotation: records of the old key are trusted while it is listed; the new key signs; without the old key they are misses", async () => {
    const bucket = bucketName("rotate");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const mod = sampleModule("rotate");
    await runner(bucket, signedBy("old"), goEnv).build(mod);
    const rotated = await runner(bucket, signedBy("new", "old"), goEnv).build(mod);
    expect(rotated.m.cache_bytes_in).toBe(0);
    expect(rotated.m.remote_bad_signature ?? 0).toBe(0);
    expect((rotated.m.remote_hits ?? 0) + (rotated.m.remote_prefetch_hits ?? 0)).toBeGreaterThan(10);
    // What the rotated runner wrote is signed by the new key (its manifest and a fresh put).
    const body = new TextEncoder().encode("rotated output\n");
    const put = await runPlugin([...s3Flags(s3, bucket), "--cache-dir", tempDir("put"), ...signedBy("new", "old")],
      `${JSON.stringify({ ID: 1, Command: "put", ActionID: Buffer.alloc(32, 7).toString("base64"), OutputID: new Bun.CryptoHasher("sha256").update(body).digest("base64"), BodySize: body.length })}\n\n"${Buffer.from(body).toString("base64")}"\n` + line({ ID: 2, Command: "close" }), pluginS3Env(s3));
    expect(put.exitCode).toBe(0);
    const ax = new TextDecoder().decode(await readKey(s3, bucket, `ax/07/${"07".repeat(32)}`));
    expect(ax.split("\n")[0]).toMatch(/ sig:new:[0-9a-f]{64}$/);
    // A manifest the rotated runner signed with the new key vouches for its entries: without it, every ax record is the old key's.
    await deleteUnder(s3, bucket, "manifest");
    const newOnly = await runner(bucket, signedBy("new"), goEnv).build(mod);
    expect(newOnly.m.remote_bad_signature).toBeGreaterThan(10);
    expect(newOnly.m.cache_bytes_in).toBeGreaterThan(0);
  });

  test.each([
    ["a manifest signature that fails", async (bucket: string, key: string) => {
      const text = gunzipText(await readKey(s3, bucket, key));
      await writeKey(s3, bucket, key, Bun.gzipSync(new TextEncoder().encode(text.replace(/^(gcp-manifest-sig \S+:)[0-9a-f]{64}/, `$1${"0".repeat(64)}`))));
    }],
    ["entries remapped under a kept signature", async (bucket: string, key: string) => {
      const lines = gunzipText(await readKey(s3, bucket, key)).split("\n");
      const outputs = lines.slice(1).filter(Boolean).map((l) => l.split(" ")[1]!);
      const remapped = lines.map((l, i) => (i === 0 || !l ? l : l.replace(/ [0-9a-f]{64} /, ` ${outputs[i % outputs.length]} `)));
      await writeKey(s3, bucket, key, Bun.gzipSync(new TextEncoder().encode(remapped.join("\n"))));
    }],
  ])("prefetch from %s installs nothing", async (_n, tamper) => {
    const bucket = bucketName("manifest");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const mod = sampleModule("manifest");
    await runner(bucket, signedBy("k1"), goEnv).build(mod);
    const manifests = (await listKeys(s3, bucket)).filter((k) => /^manifest\/[0-9a-f]{64}$/.test(k));
    expect(manifests.length).toBe(1);
    const text = gunzipText(await readKey(s3, bucket, manifests[0]!));
    expect(text).toMatch(/^gcp-manifest-sig k1:[0-9a-f]{64}\n/);
    await tamper(bucket, manifests[0]!);
    await deleteUnder(s3, bucket, "ax/"); // the manifest is then the only signed mapping left to trust
    const r = await runner(bucket, signedBy("k1"), goEnv).build(mod);
    expect(r.m.remote_bad_signature).toBeGreaterThan(0);
    expect(r.m.remote_manifests_found ?? 0).toBe(0);
    expect(r.m.remote_prefetched ?? 0).toBe(0);
    expect(r.m.remote_prefetch_packs ?? 0).toBe(0);
    expect(r.m.remote_hits ?? 0).toBe(0);
    expect(r.m.cache_bytes_in).toBeGreaterThan(0);
    expect(r.hello).toBe("HELLO MANIFEST!");
  });
});

/** `go-cache-plugin keygen ID` (once per ID): its private and public key file lines. */
const pairs = new Map<string, { key: string; pub: string }>();
function keygen(id: string): { key: string; pub: string } {
  let pair = pairs.get(id);
  if (!pair) {
    const dir = tempDir("keygen");
    const r = Bun.spawnSync([binary(), "keygen", id, "--dir", dir]);
    if (r.exitCode !== 0) throw new Error(`keygen failed: ${r.stderr}`);
    const { statSync, readFileSync } = require("node:fs");
    expect(statSync(`${dir}/${id}.key`).mode & 0o777).toBe(0o600);
    pair = { key: readFileSync(`${dir}/${id}.key`, "utf8").trim(), pub: readFileSync(`${dir}/${id}.pub`, "utf8").trim() };
    expect(Bun.spawnSync([binary(), "keygen", id, "--dir", dir]).exitCode).not.toBe(0); // never replaces a key
    pairs.set(id, pair);
  }
  return pair;
}

describe("namespaces", () => {
  test.each([
    ["without keys", [] as string[], [] as string[]],
    ["with a key per namespace", ["--signing-key-file", keyFile(`main-k ${secretOf("main-k")} main`)], ["--signing-key-file", keyFile(`pr-k ${secretOf("pr-k")} pr/1234`, `main-k ${secretOf("main-k")} main`)]],
    // Ed25519 from `keygen`: the pull request holds main's public key only, so it can trust main and never sign like it.
    ["with Ed25519 keys (main's public key only)", ["--signing-key-file", keyFile(keygen("main-e").key)], ["--signing-key-file", keyFile(keygen("pr-e").key.replace(/$/, " pr/1234"), `${keygen("main-e").pub} main`)]],
  ])("a pull-request runner with --read-prefix main, %s, gets every hit from main and writes only under its own prefix", async (_n, mainFlags, prFlags) => {
    const bucket = bucketName("namespaces");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const mod = sampleModule("ns");
    const main = runner(bucket, ["--prefix", "main", ...mainFlags], goEnv);
    await main.build(mod);
    const warmMain = await main.build(mod); // what a warm build asks that a cold one never stored is now stored too
    expect(warmMain.m.cache_bytes_in).toBe(0);
    const before = await listKeys(s3, bucket);
    expect(before.every((k) => k.startsWith("main/"))).toBe(true);

    const pr = await runner(bucket, ["--prefix", "pr/1234", "--read-prefix", "main", ...prFlags], goEnv).build(mod);
    expect(pr.m.cache_bytes_in).toBe(0); // every hit from main
    expect((pr.m.remote_hits ?? 0) + (pr.m.remote_prefetch_hits ?? 0)).toBeGreaterThan(10);
    expect(pr.hello).toBe("HELLO NS!");
    const after = await listKeys(s3, bucket);
    expect(after.filter((k) => k.startsWith("main/"))).toEqual(before);
    const written = after.filter((k) => !before.includes(k));
    expect(written.length).toBeGreaterThan(0); // its manifest at least
    for (const k of written) expect(k.startsWith("pr/1234/")).toBe(true);

    // main never reads the pull request's namespace: a runner of main with an empty cache and
    // only pr/1234's records would miss; with main's it hits.
    const fresh = await runner(bucket, ["--prefix", "main", ...mainFlags], goEnv).build(mod);
    expect(fresh.m.cache_bytes_in).toBe(0);
  });

  test("signed: records planted in main by a pull-request key are not trusted by main's key", async () => {
    const bucket = bucketName("nsplant");
    await s3.createBucket(bucket);
    const goEnv = isolatedGoEnv();
    const mod = sampleModule("nsplant");
    // A pull-request job that could write main (a misconfigured policy) signs with its own key.
    await runner(bucket, ["--prefix", "main", "--signing-key-file", keyFile(`pr-k ${secretOf("pr-k")}`)], goEnv).build(mod);
    const r = await runner(bucket, ["--prefix", "main", "--signing-key-file", keyFile(`main-k ${secretOf("main-k")}`, `pr-k ${secretOf("pr-k")} pr/1234`)], goEnv).build(mod);
    expect(r.m.remote_hits ?? 0).toBe(0);
    expect(r.m.remote_bad_signature).toBeGreaterThan(0);
    expect(r.m.cache_bytes_in).toBeGreaterThan(0);
  });
});

describe("key file", () => {
  test("a key file readable by others stops the plugin with one clear line that shows no secret", async () => {
    const p = keyFile(`k1 ${secretOf("k1")}`);
    require("node:fs").chmodSync(p, 0o644);
    const r = await runPlugin([...s3Flags(s3, "any"), "--cache-dir", tempDir("kf"), "--signing-key-file", p], line({ ID: 1, Command: "close" }), pluginS3Env(s3));
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`signing key file ${p} is accessible by group or others (mode 0644): run chmod 600 on it`);
    expect(r.stderr).not.toContain(secretOf("k1"));
  });
});
