/** SessionPrefetch with a stand-in bucket: the index, packs, and when a manifest still describes a session. */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { SessionPrefetch } from "../../../src/remote/worker/prefetch.ts";
import { Namespaces } from "../../../src/remote/worker/namespaces.ts";
import { LocalStore } from "../../../src/store/local.ts";
import type { CacheBucket } from "../../../src/remote/format/bucket.ts";
import type { Mapping } from "../../../src/store/store.ts";
import type { FromWorker } from "../../../src/remote/worker/messages.ts";
import { cleanupTempDirs, tempDir } from "../../support/paths.ts";

afterAll(() => cleanupTempDirs());

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const body = (n: number) => new TextEncoder().encode(`output ${n}`);
const entry = (n: number): Mapping => ({ actionId: sha(new TextEncoder().encode(`action ${n}`)), outputId: sha(body(n)), size: body(n).length, timeNanos: BigInt(n) });

/** A bucket with one manifest (indexed under action "first") of entries 1..n, all small; the pack holds all but `missing`. */
function fakeRemote(n: number, calls: string[], missing = 0): CacheBucket {
  const entries = Array.from({ length: n }, (_, i) => entry(i + 1));
  return {
    getManifestPointer: async (actionId: string) => (calls.push(`index ${actionId}`), actionId === "first" ? "manifest/m" : undefined),
    getManifest: async () => (calls.push("manifest"), entries),
    getPack: async () => (calls.push("pack"), { parts: new Map(entries.filter((_, i) => i + 1 !== missing).map((e) => [e.outputId, body(Number(e.timeNanos))])), wire: 100 }),
    encoding: "zstd",
    outputs: {
      get: async (outputId: string) => {
        calls.push("object");
        const i = entries.findIndex((e) => e.outputId === outputId);
        return i >= 0 ? { value: body(i + 1), wire: 5 } : undefined;
      },
    },
  } as unknown as CacheBucket;
}

async function prefetched(n: number, firstGet: string, missing = 0) {
  const calls: string[] = [];
  const posted: FromWorker[] = [];
  const local = new LocalStore({ dir: tempDir("prefetch") });
  const p = new SessionPrefetch({ session: 1, namespaces: new Namespaces(fakeRemote(n, calls, missing)), local, concurrency: 4, post: (m) => posted.push(m) });
  p.probe(firstGet);
  const downloads = missing ? 1 : 0;
  for (let i = 0; i < 100 && !(posted.some((m) => m.t === "packFound") && posted.filter((m) => m.t === "prefetched").length >= downloads); i++) await Bun.sleep(5);
  const pack = posted.find((m) => m.t === "packFound");
  return { p, calls, posted, local, packed: pack?.t === "packFound" ? pack.entries : [] };
}

describe("SessionPrefetch", () => {
  test("the index finds the manifest; its pack's entries go to the main thread in one message, with no request per object", async () => {
    const { p, calls, posted, local, packed } = await prefetched(40, "first");
    expect(p.manifestKey).toBe("manifest/m");
    expect(calls).toEqual(["index first", "manifest", "pack"]);
    expect(packed.map((e) => e.entry.actionId)).toEqual(Array.from({ length: 40 }, (_, i) => entry(i + 1).actionId)); // manifest order
    for (const e of packed) expect(sha(e.bytes)).toBe(e.entry.outputId);
    expect(posted.filter((m) => m.t === "prefetched").length).toBe(0); // the main thread installs them when asked
    expect(local.get(entry(1).actionId)).toBeUndefined();
  });

  test("an entry the pack lacks is downloaded: its object installed here, its record reported to the main thread", async () => {
    const { calls, posted, local, packed } = await prefetched(5, "first", 3);
    expect(calls.filter((c) => c === "object")).toEqual(["object"]);
    expect(packed.length).toBe(4);
    const reports = posted.filter((m) => m.t === "prefetched");
    expect(reports.length).toBe(1);
    const { outputId, size, timeNanos } = entry(3);
    expect(reports[0]).toMatchObject({ actionId: entry(3).actionId, record: { outputId, size, timeNanos } });
    expect(await Bun.file(local.layout.objectPath(outputId)).bytes()).toEqual(body(3));
    expect(local.getAction(entry(3).actionId)).toBeUndefined(); // the main thread holds and writes records
  });

  test("a lookup that finds no manifest starts nothing", async () => {
    const calls: string[] = [];
    const p = new SessionPrefetch({ session: 1, namespaces: new Namespaces(fakeRemote(3, calls)), local: new LocalStore({ dir: tempDir("prefetch") }), concurrency: 4, post: () => {} });
    p.probe("other");
    await Bun.sleep(20);
    expect(p.manifestKey).toBeUndefined();
    expect(calls).toEqual(["index other"]);
  });
});
