/** CacheBucket in signed mode against a real S3-compatible server: what is signed, and what a keyed reader refuses. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { CacheBucket, axKey, encodeAx, encodeManifest, encodePointer, manifestIndexKey, manifestKey, type Trust } from "../../../src/remote/format/bucket.ts";
import { Keyring } from "../../../src/remote/trust/sign.ts";
import { openBlobStore } from "../../../src/backends/open.ts";
import { startS3Server, type S3Server } from "../../support/s3server.ts";
import { bucketName, readKey, writeKey } from "../../support/bucket.ts";

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); });
const hex = (s: string | Uint8Array) => createHash("sha256").update(s).digest("hex");
const key = (id: string, scope?: string[]) => ({ id, secret: new TextEncoder().encode(`${id}-secret-0123456789`), scope });

/** A trust setting that records what it rejects. */
function trust(keys: Keyring): Trust & { seen: string[] } {
  const seen: string[] = [];
  return { keys, seen, rejected: (verdict, what) => void seen.push(`${verdict} ${what}`) };
}

async function setup() {
  const name = bucketName("signed");
  await s3.createBucket(name);
  const blobs = await openBlobStore({ backend: "s3", bucket: name, endpoint: s3.endpoint, pathStyle: true, region: "us-east-1" }, { env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey }, timeoutMs: 5_000 });
  const open = (prefix: string, t?: Trust) => new CacheBucket({ blobs, prefix, encoding: "zstd", trust: t });
  return { name, open };
}

const body = new TextEncoder().encode("an output");
const entry = (label: string) => ({ actionId: hex(`action ${label}`), outputId: hex(body), size: body.length, timeNanos: 1_700_000_000_000_000_000n });

describe("signed records", () => {
  test("a keyed writer's ax record verifies for a keyed reader and is read by one without a key", async () => {
    const { name, open } = await setup();
    const t = trust(new Keyring([key("k1")]));
    const e = entry("a");
    await open("main", t).putAx(e, body);
    const stored = new TextDecoder().decode(await readKey(s3, name, axKey("main", e.actionId)));
    expect(stored.split("\n")[0]).toMatch(/^[0-9a-f]{64} \d+ 9 zstd sig:k1:[0-9a-f]{64}$/);
    expect((await open("main", t).getRecord(e.actionId))?.outputId).toBe(e.outputId);
    expect((await open("main").getRecord(e.actionId))?.outputId).toBe(e.outputId);
    expect(t.seen).toEqual([]);
  });

  test.each([
    ["an unsigned ax record", (e: ReturnType<typeof entry>) => encodeAx(e, body), "unsigned"],
    ["a tampered signature", (e: ReturnType<typeof entry>) => encodeAx(e, body, "raw", `k1:${"0".repeat(64)}`), "bad-signature"],
    ["an unknown key id", (e: ReturnType<typeof entry>) => encodeAx(e, body, "raw", new Keyring([key("stranger")]).sign("entry", "main", [e.actionId, e.outputId, e.size, e.timeNanos])), "bad-signature"],
    ["a record signed for another prefix", (e: ReturnType<typeof entry>) => encodeAx(e, body, "raw", new Keyring([key("k1")]).sign("entry", "pr/1", [e.actionId, e.outputId, e.size, e.timeNanos])), "bad-signature"],
  ])("%s is a miss for a keyed reader, reported as %s", async (_n, make, verdict) => {
    const { name, open } = await setup();
    const e = entry("planted");
    await writeKey(s3, name, axKey("main", e.actionId), make(e));
    const t = trust(new Keyring([key("k1")]));
    expect(await open("main", t).getRecord(e.actionId)).toBeUndefined();
    expect(t.seen).toEqual([`${verdict} ax record ${axKey("main", e.actionId)}`]);
  });

  test("a compatible action record alone is a miss in signed mode (unsigned) and a hit without a key", async () => {
    const { open } = await setup();
    const e = entry("compat");
    await open("main").putAction(e.actionId, { outputId: e.outputId, timeNanos: e.timeNanos });
    const t = trust(new Keyring([key("k1")]));
    expect(await open("main", t).getRecord(e.actionId)).toBeUndefined();
    expect(t.seen).toEqual([`unsigned action record main/action/${e.actionId.slice(0, 2)}/${e.actionId}`]);
    expect(await open("main").getRecord(e.actionId)).toMatchObject({ outputId: e.outputId, size: -1 });
  });
});

describe("signed manifests and pointers", () => {
  const entries = [entry("m1"), entry("m2")];

  test("a keyed writer's manifest and pointers verify; a reader without a key reads them too", async () => {
    const { open } = await setup();
    const t = trust(new Keyring([key("k1")]));
    const k = await open("main", t).putManifest(entries, [entries[0]!.actionId]);
    expect(await open("main", t).getManifestPointer(entries[0]!.actionId)).toBe(k);
    expect(await open("main", t).getManifest(k)).toEqual(entries);
    expect(await open("main").getManifestPointer(entries[0]!.actionId)).toBe(k);
    expect(await open("main").getManifest(k)).toEqual(entries);
    expect(t.seen).toEqual([]);
  });

  test("an unsigned manifest, or one whose entries changed under the signature, is no manifest for a keyed reader", async () => {
    const { name, open } = await setup();
    const keys = new Keyring([key("k1")]);
    const t = trust(keys);
    const unsigned = encodeManifest(entries);
    const uKey = manifestKey("main", hex(unsigned));
    await writeKey(s3, name, uKey, unsigned);
    const sig = keys.sign("manifest", "main", [hex("something else")]);
    const forged = encodeManifest(entries, sig);
    const fKey = manifestKey("main", hex(forged));
    await writeKey(s3, name, fKey, forged);
    expect(await open("main", t).getManifest(uKey)).toBeUndefined();
    expect(await open("main", t).getManifest(fKey)).toBeUndefined();
    expect(t.seen).toEqual([`unsigned manifest ${uKey}`, `bad-signature manifest ${fKey}`]);
    expect(await open("main").getManifest(uKey)).toEqual(entries); // without a key: as before
  });

  test("an unsigned pointer, or a signed one moved to another action, is no pointer for a keyed reader", async () => {
    const { name, open } = await setup();
    const keys = new Keyring([key("k1")]);
    const t = trust(keys);
    const k = await open("main", t).putManifest(entries, [entries[0]!.actionId]);
    const [a, b] = [hex("other 1"), hex("other 2")];
    await writeKey(s3, name, manifestIndexKey("main", a), encodePointer(k));
    await writeKey(s3, name, manifestIndexKey("main", b), await readKey(s3, name, manifestIndexKey("main", entries[0]!.actionId)));
    expect(await open("main", t).getManifestPointer(a)).toBeUndefined();
    expect(await open("main", t).getManifestPointer(b)).toBeUndefined();
    expect(t.seen).toEqual([`unsigned manifest index ${manifestIndexKey("main", a)}`, `bad-signature manifest index ${manifestIndexKey("main", b)}`]);
  });
});
