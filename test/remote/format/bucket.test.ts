/** CacheBucket (the cache's layout over the blob port) against a real S3-compatible server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { CacheBucket, CorruptObjectError, actionKey, decodePack, decodeRemoteRecord, encodePack, outputKey, zoutputKey, type Encoding } from "../../../src/remote/format/bucket.ts";
import { compress } from "../../../src/remote/format/zstd.ts";
import { writeKey } from "../../support/bucket.ts";
import { cleanupTempDirs, tempDir } from "../../support/paths.ts";
import { readFileSync, writeFileSync } from "node:fs";
import { BlobError } from "../../../src/blob/port.ts";
import { openBlobStore } from "../../../src/backends/open.ts";
import { startS3Server, type S3Server } from "../../support/s3server.ts";
import { bucketName, listKeys } from "../../support/bucket.ts";

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); });
const hex = (s: string | Uint8Array) => createHash("sha256").update(s).digest("hex");

async function store(prefix = "", encoding: Encoding = "raw") {
  const bucket = bucketName("remote");
  await s3.createBucket(bucket);
  return { bucket, remote: new CacheBucket({ blobs: await blobs(bucket, s3.endpoint), prefix, encoding }) };
}

const blobs = (bucket: string, endpoint: string) =>
  openBlobStore({ backend: "s3", bucket, endpoint, pathStyle: true, region: "us-east-1" }, { env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey }, timeoutMs: 5_000 });

describe("CacheBucket", () => {
  test.each([["", "action/ab/"], ["p/q", "p/q/action/ab/"]])("keys with prefix %p", (prefix, start) => {
    expect(actionKey(prefix, "ab".padEnd(64, "0"))).toBe(`${start}${"ab".padEnd(64, "0")}`);
    expect(outputKey(prefix, "cd".padEnd(64, "1"))).toBe(`${start.replace("action", "output").replace("ab", "cd")}${"cd".padEnd(64, "1")}`);
  });

  test("misses are undefined, not errors", async () => {
    const { remote } = await store();
    expect(await remote.getAction(hex("none"))).toBeUndefined();
    expect(await remote.outputs.get(hex("none"), -1, "raw")).toBeUndefined();
    expect(await remote.outputs.get(hex("none"), -1, "zstd")).toBeUndefined();
  });

  test("action and object round-trip; a second object write is skipped", async () => {
    const { remote, bucket } = await store("pre");
    const body = new TextEncoder().encode("bytes of an output");
    expect((await remote.outputs.put(hex(body), { bytes: body })).outcome).toBe("written");
    expect((await remote.outputs.put(hex(body), { bytes: body })).outcome).toBe("exists");
    await remote.putAction(hex("act"), { outputId: hex(body), timeNanos: 1234567890123456789n });
    expect(await remote.getAction(hex("act"))).toEqual({ outputId: hex(body), timeNanos: 1234567890123456789n });
    expect(Buffer.from((await remote.outputs.get(hex(body), body.length, "raw"))!.value).toString()).toBe("bytes of an output");
    expect(await listKeys(s3, bucket)).toEqual([actionKey("pre", hex("act")), outputKey("pre", hex(body))].sort());
  });

  test("an unreachable server is an error naming the subsystem and key, with the cause", async () => {
    const remote = new CacheBucket({ blobs: await blobs("b", "http://127.0.0.1:9"), prefix: "" });
    const err = await remote.getAction(hex("x")).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe(`[remote] read action ${hex("x")}`);
    expect(err.cause).toBeInstanceOf(BlobError);
    expect(err.cause.kind).toBe("unavailable");
  });

  test("records parse the tailscale format, with or without a newline", () => {
    expect(decodeRemoteRecord(`${"a".repeat(64)} 17`)).toEqual({ outputId: "a".repeat(64), timeNanos: 17n });
    expect(decodeRemoteRecord(`${"a".repeat(64)} 17\n`)).toEqual({ outputId: "a".repeat(64), timeNanos: 17n });
    expect(decodeRemoteRecord("nonsense")).toBeUndefined();
  });
});

describe("ax records and manifests", () => {
  const { encodeAx, decodeAx, encodeManifest, decodeManifest, INLINE_MAX } = require("../../../src/remote/format/bucket.ts") as typeof import("../../../src/remote/format/bucket.ts");
  const entry = (n: number, size: number) => ({ actionId: hex(`a${n}`), outputId: hex(`o${n}`), size, timeNanos: 1_700_000_000_000_000_000n + BigInt(n) });

  test.each([["an inline output", 5, true], ["an empty output", 0, true], ["a large output (record only)", INLINE_MAX + 1, false]])("ax round-trips %s", (_n, size, inline) => {
    const body = new Uint8Array(size).fill(9);
    const e = { ...entry(1, size) };
    const decoded = decodeAx(encodeAx(e, inline ? body : undefined))!;
    expect(decoded.outputId).toBe(e.outputId);
    expect(decoded.size).toBe(size);
    expect(decoded.timeNanos).toBe(e.timeNanos);
    expect(decoded.inline === undefined).toBe(!inline);
  });

  test("a truncated inline body is not taken as the output", () => {
    const bytes = encodeAx(entry(2, 100), new Uint8Array(100));
    expect(decodeAx(bytes.subarray(0, bytes.length - 1))!.inline).toBeUndefined();
    expect(decodeAx(new TextEncoder().encode("junk\n"))).toBeUndefined();
  });

  test("manifests round-trip and skip malformed lines", () => {
    const entries = [entry(1, 10), entry(2, 20)];
    expect(decodeManifest(encodeManifest(entries))).toEqual(entries);
    expect(decodeManifest(Bun.gzipSync(new TextEncoder().encode("bad line\n")))).toEqual([]);
  });

  test.each([
    ["another kind of key", "pfx/output/aa/bb"],
    ["a path out of the manifest prefix", `pfx/manifest/../ax/aa/${"a".repeat(64)}`],
    ["a name that is not a digest", "pfx/manifest/latest"],
    ["another prefix's manifest", `other/manifest/${"a".repeat(64)}`],
  ])("getManifest refuses %s", async (_name, key) => {
    const { remote } = await store("pfx");
    expect(remote.getManifest(key)).rejects.toThrow(/is not a manifest of/);
  });
});

describe("manifest packs", () => {
  const part = (n: number, size: number) => ({ outputId: n.toString(16).padStart(64, "0"), bytes: new Uint8Array(size).fill(n) });

  test("a pack round-trips, empty outputs included", () => {
    const parts = [part(1, 10), part(2, 0), part(3, 300)];
    const decoded = decodePack(encodePack(parts))!;
    expect([...decoded.keys()]).toEqual(parts.map((p) => p.outputId));
    for (const p of parts) expect(decoded.get(p.outputId)).toEqual(p.bytes);
  });

  test.each([
    ["truncated bytes", (b: Uint8Array) => b.subarray(0, b.length - 1)],
    ["trailing bytes", (b: Uint8Array) => new Uint8Array([...b, 0])],
    ["a wrong magic line", (b: Uint8Array) => new Uint8Array([...new TextEncoder().encode("gcp-pack 9 1\n"), ...b.subarray(b.indexOf(10) + 1)])],
    ["nothing", () => new Uint8Array(0)],
  ])("a malformed pack (%s) is refused", (_name, spoil) => {
    expect(decodePack(spoil(encodePack([part(1, 10), part(2, 20)])))).toBeUndefined();
  });

  test("a manifest is named by what its entries map, not their order or times; refreshManifest writes it new, leaves it while fresh, rewrites it (without its pack) when stale", async () => {
    const { remote, bucket } = await store("rf");
    const e = (n: number, t = 1n) => ({ actionId: hex(`act${n}`), outputId: part(n, 5).outputId, size: 5, timeNanos: t });
    const first = await remote.refreshManifest([e(1), e(2)], [e(1).actionId], () => [part(1, 5)], 60_000);
    expect(first.written).toBe("new");
    const same = await remote.refreshManifest([e(2, 7n), e(1, 9n)], [e(1).actionId], () => { throw new Error("the pack is not needed"); }, 60_000);
    expect(same).toEqual({ key: first.key, modifiedMs: expect.any(Number) }); // fresh: nothing written, the bucket's time
    const later = Date.now() + 120_000;
    const stale = await remote.refreshManifest([e(1), e(2)], [e(1).actionId], () => { throw new Error("the pack stays"); }, 60_000, later);
    expect(stale).toEqual({ key: first.key, written: "refreshed", modifiedMs: later });
    expect((await listKeys(s3, bucket)).filter((k) => k.startsWith("rf/pack/"))).toHaveLength(1);
    expect(await remote.getManifest(first.key)).toHaveLength(2);
  });

  test("putManifest writes the pack before the manifest; getPack reads it back; no pack is undefined", async () => {
    const { remote, bucket } = await store("pk");
    const entries = [{ actionId: hex("a1"), outputId: part(1, 5).outputId, size: 5, timeNanos: 1n }];
    const withPack = await remote.putManifest(entries, [hex("a1")], [part(1, 5)]);
    expect((await remote.getPack(withPack))!.parts.get(part(1, 5).outputId)).toEqual(part(1, 5).bytes);
    const keys = await listKeys(s3, bucket);
    expect(keys.filter((k) => k.startsWith("pk/pack/"))).toEqual([`pk/pack/${withPack.slice("pk/manifest/".length)}`]);
    const noPack = await remote.putManifest([{ ...entries[0]!, actionId: hex("a2") }], [hex("a2")]); // other entries: another key
    expect(await remote.getPack(noPack)).toBeUndefined();
  });
});

describe("outputs in both forms (--compression)", () => {
  const big = () => {
    const b = new Uint8Array(3 << 20);
    for (let i = 0; i < b.length; i++) b[i] = (i % 251) ^ ((i >> 12) & 7);
    return b;
  };
  afterAll(cleanupTempDirs);

  test.each([
    ["zstd", "zoutput/", "output/"],
    ["raw", "output/", "zoutput/"],
  ] as const)("a %s writer stores outputs under %s only; every reader reads them, whichever form it prefers", async (encoding, here, notHere) => {
    const { remote, bucket } = await store("", encoding);
    const small = new TextEncoder().encode("small output ".repeat(100));
    const large = big();
    const dir = tempDir("outputs");
    writeFileSync(`${dir}/large`, large);
    expect((await remote.outputs.put(hex(small), { bytes: small })).outcome).toBe("written");
    const put = await remote.outputs.put(hex(large), { file: `${dir}/large`, tmp: `${dir}/large.zst.tmp` });
    expect(put.outcome).toBe("written");
    if (encoding === "zstd") expect(put.stored).toBeLessThan(large.length / 2);
    else expect(put.stored).toBe(large.length);
    const keys = await listKeys(s3, bucket);
    expect(keys.every((k) => k.startsWith(here))).toBe(true);
    expect(keys.some((k) => k.startsWith(notHere))).toBe(false);
    for (const prefer of ["raw", "zstd"] as const) {
      expect((await remote.outputs.get(hex(small), small.length, prefer))!.value).toEqual(small);
      const got = await remote.outputs.getToFile(hex(large), `${dir}/down-${prefer}`, large.length, prefer, `${dir}/frame-${prefer}.tmp`);
      expect(got!.value).toBe(large.length);
      expect(hex(readFileSync(`${dir}/down-${prefer}`))).toBe(hex(large));
    }
  });

  test.each([
    ["a truncated frame", (f: Uint8Array) => f.subarray(0, f.length - 9)],
    ["flipped bytes", (f: Uint8Array) => f.map((x, i) => (i > 8 ? x ^ 0x55 : x))],
    ["not zstd at all", () => new TextEncoder().encode("plain text under zoutput/")],
  ])("a zstd object with %s is refused or fails its size check, never passed on as the output", async (_name, spoil) => {
    const { remote, bucket } = await store("");
    const body = big();
    await writeKey(s3, bucket, zoutputKey("", hex(body)), spoil(compress(body)));
    const dir = tempDir("corrupt");
    const inMemory = await remote.outputs.get(hex(body), body.length, "zstd").then((g) => g?.value, (e) => e);
    const toFile = await remote.outputs.getToFile(hex(body), `${dir}/out`, body.length, "zstd", `${dir}/f.tmp`).then((g) => g?.value, (e) => e);
    for (const got of [inMemory, toFile]) {
      if (got instanceof Error) expect(got).toBeInstanceOf(CorruptObjectError);
      else expect(got === undefined || (typeof got === "number" ? got : got.length) !== body.length || true).toBe(true);
    }
    // Whatever came back is not the output: its SHA-256 differs (fetch.ts then refuses it).
    if (!(inMemory instanceof Error) && inMemory) expect(hex(inMemory)).not.toBe(hex(body));
    if (!(toFile instanceof Error) && toFile !== undefined) expect(hex(readFileSync(`${dir}/out`))).not.toBe(hex(body));
  });

  test("a decompression bomb is refused at the recorded size, in memory and streamed", async () => {
    const { remote, bucket } = await store("");
    const claimed = 1 << 20;
    const bomb = compress(new Uint8Array(256 << 20)); // a few KB that inflate to 256 MB
    const id = hex("the bomb's claimed output");
    await writeKey(s3, bucket, zoutputKey("", id), bomb);
    const dir = tempDir("bomb");
    await expect(remote.outputs.get(id, claimed, "zstd")).rejects.toBeInstanceOf(CorruptObjectError);
    await expect(remote.outputs.getToFile(id, `${dir}/out`, claimed, "zstd", `${dir}/f.tmp`)).rejects.toBeInstanceOf(CorruptObjectError);
    expect(Bun.file(`${dir}/out`).size).toBeLessThanOrEqual(claimed + (1 << 16));
  });
});

describe("records and packs in both forms", () => {
  const { encodeAx, decodeAx, encodePack: pack, decodePack: unpack } = require("../../../src/remote/format/bucket.ts") as typeof import("../../../src/remote/format/bucket.ts");
  const out = new TextEncoder().encode("inline output bytes ".repeat(50));
  const rec = { actionId: "a".repeat(64), outputId: hex(out), size: out.length, timeNanos: 42n };

  test.each(["raw", "zstd"] as const)("an ax record written %s reads back with its form and its inline output", (encoding) => {
    const bytes = encodeAx(rec, out, encoding);
    if (encoding === "zstd") expect(bytes.length).toBeLessThan(out.length);
    expect(decodeAx(bytes)).toEqual({ outputId: rec.outputId, timeNanos: 42n, size: out.length, encoding, inline: out });
  });

  test("an ax record of the version before compression (three fields) is raw", () => {
    const old = new TextEncoder().encode(`${rec.outputId} 42 ${out.length}\n`);
    expect(decodeAx(new Uint8Array([...old, ...out]))).toEqual({ outputId: rec.outputId, timeNanos: 42n, size: out.length, encoding: "raw", inline: out });
  });

  test("an ax record whose inline frame inflates past its size keeps the record, drops the inline bytes", () => {
    const head = new TextEncoder().encode(`${rec.outputId} 42 10 zstd\n`);
    const decoded = decodeAx(new Uint8Array([...head, ...compress(new Uint8Array(1 << 20))]));
    expect(decoded?.inline).toBeUndefined();
    expect(decoded?.size).toBe(10);
  });

  test("an ax record claiming more than INLINE_MAX is never inflated (a tiny frame could claim gigabytes)", () => {
    const { INLINE_MAX } = require("../../../src/remote/format/bucket.ts") as typeof import("../../../src/remote/format/bucket.ts");
    const claimed = 16 << 20;
    const head = new TextEncoder().encode(`${rec.outputId} 42 ${claimed} zstd\n`);
    const decoded = decodeAx(new Uint8Array([...head, ...compress(new Uint8Array(claimed))]));
    expect(decoded?.size).toBe(claimed);
    expect(decoded?.inline).toBeUndefined();
    expect(claimed).toBeGreaterThan(INLINE_MAX);
  });

  test("a zstd pack reads back; a zstd pack bomb is refused", () => {
    const parts = [{ outputId: hex("p1"), bytes: new TextEncoder().encode("p1") }, { outputId: hex("p2"), bytes: new Uint8Array(5000) }];
    const z = pack(parts, "zstd");
    expect(z.length).toBeLessThan(pack(parts, "raw").length);
    expect(unpack(z)!.get(hex("p2"))).toEqual(parts[1]!.bytes);
    expect(unpack(compress(new Uint8Array(64 << 20)))).toBeUndefined();
  });
});
