/** collectGarbage over an in-memory store: races with a build, failed reads, rewritten records (the e2e suite runs it on real servers). */
import { describe, expect, test } from "bun:test";
import { BlobError } from "../../src/blob/port.ts";
import { CacheBucket } from "../../src/remote/format/bucket.ts";
import { collectGarbage } from "../../src/lifecycle/gc.ts";
import { MemoryBlobs } from "../support/memory-blobs.ts";

const H = (c: string) => c.repeat(64);
const DAY = 86_400_000, NOW = 100 * DAY;
const gcOpts = { prefix: "", olderThanMs: 30 * DAY, useIntervalMs: DAY, dryRun: false, now: NOW, concurrency: 1 };

function setup() {
  const blobs = new MemoryBlobs();
  const bucket = new CacheBucket({ blobs, prefix: "" });
  return { blobs, bucket, run: (o: Partial<typeof gcOpts> = {}) => collectGarbage({ blobs, bucket, ...gcOpts, ...o }) };
}
const entry = (a: string, o: string) => ({ actionId: H(a), outputId: H(o), size: 1, timeNanos: 1n });
async function stored(s: ReturnType<typeof setup>, e: ReturnType<typeof entry>, at: number) {
  s.blobs.now = () => at;
  await s.bucket.putAx(e, undefined);
  await s.bucket.putAction(e.actionId, { outputId: e.outputId, timeNanos: 1n });
  s.blobs.put(`zoutput/${e.outputId.slice(0, 2)}/${e.outputId}`, new Uint8Array([1]), at);
}

describe("collectGarbage", () => {
  test("an old entry goes whole (records, manifest, index, output); a used one stays", async () => {
    const s = setup();
    const old = entry("a", "1"), used = entry("b", "2");
    await stored(s, old, NOW - 60 * DAY);
    await s.bucket.putManifest([old], [old.actionId]);
    await stored(s, used, NOW - 60 * DAY);
    s.blobs.now = () => NOW - DAY;
    await s.bucket.putManifest([used], [used.actionId]); // its trace: used yesterday
    const r = await s.run();
    expect(r.errors).toEqual([]);
    const left = [...s.blobs.objects.keys()];
    expect(left.filter((k) => k.includes(H("a")) || k.includes(H("1")))).toEqual([]);
    expect(left.filter((k) => k.includes(H("b")) || k.includes(H("2"))).length).toBe(4); // ax, action, index, zoutput
    expect(left.filter((k) => k.startsWith("manifest/")).length).toBe(1);
  });

  test("a build that refreshes an entry's manifest while gc lists keeps the entry: gc plans again before deleting records", async () => {
    const s = setup();
    const e = entry("a", "1");
    await stored(s, e, NOW - 60 * DAY);
    await s.bucket.putManifest([e], [e.actionId]);
    let raced = false;
    s.blobs.hooks.beforeList = async () => {
      // The second listing (before the records phase): a build used the entry and refreshed its trace meanwhile.
      if (raced || s.blobs.objects.size === 0) return;
      const manifests = [...s.blobs.objects.keys()].filter((k) => k.startsWith("manifest/"));
      if (manifests.length === 0) { raced = true; s.blobs.now = () => NOW; await s.bucket.putManifest([e], [e.actionId]); }
    };
    await s.run();
    expect(raced).toBe(true);
    expect(await s.bucket.readAx(e.actionId)).toBeDefined();
    expect(s.blobs.objects.has(`zoutput/${H("1").slice(0, 2)}/${H("1")}`)).toBe(true);
  });

  test("a record rewritten after the manifest that lists its action keeps the output it names now", async () => {
    const s = setup();
    s.blobs.put(`zoutput/22/${H("2")}`, new Uint8Array([2]), NOW - 90 * DAY); // uploaded long ago; the new upload found it ("exists")
    s.blobs.now = () => NOW - 2 * DAY;
    await s.bucket.putManifest([entry("a", "1")], [H("a")]);
    await stored(s, entry("a", "2"), NOW - DAY);
    const r = await s.run({ dryRun: true });
    expect(r.keys).not.toContain(`zoutput/22/${H("2")}`);
  });

  test.each([["a real run", false], ["a dry run", true]] as const)("a record that cannot be read keeps every output in %s, and says so", async (_n, dryRun) => {
    const s = setup();
    const e = entry("a", "1");
    s.blobs.put(`zoutput/11/${H("1")}`, new Uint8Array([1]), NOW - 60 * DAY);
    await stored(s, { ...e, outputId: H("3") }, NOW - DAY); // fresh records (unreadable below): what they name is unknown
    s.blobs.hooks.beforeRead = (k) => { if (k.startsWith("ax/") || k.startsWith("action/")) throw new BlobError("unavailable", "503 SlowDown"); };
    const r = await s.run({ dryRun });
    expect(r.errors.join("\n")).toContain("503 SlowDown");
    expect(s.blobs.objects.has(`zoutput/11/${H("1")}`)).toBe(true);
    if (dryRun) expect(r.keys!.some((k) => k.startsWith("zoutput/"))).toBe(false);
  });

  test("a manifest refreshed between the listing and its deletion is not deleted", async () => {
    const s = setup();
    const e = entry("a", "1");
    await stored(s, e, NOW - 60 * DAY);
    await s.bucket.putManifest([e], [e.actionId]);
    const key = [...s.blobs.objects.keys()].find((k) => k.startsWith("manifest/"))!;
    let headed = false;
    const head = s.blobs.head.bind(s.blobs);
    s.blobs.head = async (k) => { if (k === key && !headed) { headed = true; s.blobs.put(k, s.blobs.objects.get(k)!.body, NOW); } return head(k); };
    const r = await s.run();
    expect(s.blobs.objects.has(key)).toBe(true);
    expect(r.spared).toBeGreaterThan(0);
  });

  test("a record older than the manifest listing its action (another runner's local hit) still keeps the output it names", async () => {
    const s = setup();
    await stored(s, entry("a", "2"), NOW - 3 * DAY); // the bucket's records: a -> 2 (its output found there: old)
    s.blobs.put(`zoutput/22/${H("2")}`, new Uint8Array([2]), NOW - 90 * DAY);
    s.blobs.now = () => NOW - DAY;
    await s.bucket.putManifest([entry("a", "1")], [H("a")]); // a runner's session: a -> 1, a local hit of its own
    const r = await s.run({ dryRun: true });
    expect(r.keys).not.toContain(`zoutput/22/${H("2")}`);
  });

  test("a manifest spared because a build refreshed it keeps its pack and index entries", async () => {
    const s = setup();
    const e = entry("a", "1");
    await stored(s, e, NOW - 60 * DAY);
    await s.bucket.putManifest([e], [e.actionId], [{ outputId: e.outputId, bytes: new Uint8Array([1]) }]);
    const key = [...s.blobs.objects.keys()].find((k) => k.startsWith("manifest/"))!;
    const head = s.blobs.head.bind(s.blobs);
    let refreshed = false;
    s.blobs.head = async (k) => {
      if (k === key && !refreshed) { refreshed = true; s.blobs.now = () => NOW; await s.bucket.refreshManifest([e], [e.actionId], () => [], DAY, NOW); }
      return head(k);
    };
    await s.run();
    expect(refreshed).toBe(true);
    const left = [...s.blobs.objects.keys()];
    expect(left.some((k) => k.startsWith("pack/"))).toBe(true);
    expect(left.some((k) => k.startsWith("manifest-index/"))).toBe(true);
    expect(left.some((k) => k.startsWith("ax/"))).toBe(true);
  });

  test("a record written during gc that cannot be read, found by the last listing, keeps every output", async () => {
    const s = setup();
    s.blobs.put(`zoutput/11/${H("1")}`, new Uint8Array([1]), NOW - 60 * DAY); // old, named by nothing yet
    let lists = 0;
    s.blobs.hooks.beforeList = async (prefix) => {
      // The third listing (before outputs): a build writes records naming that output; reading them fails.
      if (prefix === "action/" && ++lists === 3) {
        await stored(s, entry("b", "1"), NOW);
        s.blobs.put(`zoutput/11/${H("1")}`, new Uint8Array([1]), NOW - 60 * DAY);
        s.blobs.hooks.beforeRead = (k) => { if (k.includes(H("b"))) throw new BlobError("unavailable", "503 SlowDown"); };
      }
    };
    const r = await s.run();
    expect(lists).toBe(3);
    expect(s.blobs.objects.has(`zoutput/11/${H("1")}`)).toBe(true);
    expect(r.errors.join("\n")).toContain("outputs were not deleted");
  });
});
