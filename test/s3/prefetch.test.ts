/** SessionPrefetch with a stand-in bucket: hints, packs, and when a manifest still describes a session. */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { SessionPrefetch } from "../../src/s3/prefetch.ts";
import { LocalStore } from "../../src/store/local.ts";
import type { ManifestEntry, RemoteStore } from "../../src/store/remote.ts";
import type { FromWorker } from "../../src/s3/messages.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(() => cleanupTempDirs());

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const body = (n: number) => new TextEncoder().encode(`output ${n}`);
const entry = (n: number): ManifestEntry => ({ actionId: sha(new TextEncoder().encode(`action ${n}`)), outputId: sha(body(n)), size: body(n).length, timeNanos: BigInt(n) });

/** A bucket with one manifest (filed under hint "h") of entries 1..n, all small, all in its pack. */
function fakeRemote(n: number, calls: string[]): RemoteStore {
  const entries = Array.from({ length: n }, (_, i) => entry(i + 1));
  return {
    getManifestByHint: async (hint: string) => (calls.push(`hint ${hint}`), hint === "h" ? "manifest/m" : undefined),
    getManifestPointer: async () => (calls.push("index"), undefined),
    getManifest: async () => (calls.push("manifest"), entries),
    getPack: async () => (calls.push("pack"), new Map(entries.map((e, i) => [e.outputId, body(i + 1)]))),
    getObject: async () => (calls.push("object"), undefined),
  } as unknown as RemoteStore;
}

async function prefetched(n: number, hint: string) {
  const calls: string[] = [];
  const posted: FromWorker[] = [];
  const local = new LocalStore({ dir: tempDir("prefetch") });
  const p = new SessionPrefetch({ session: 1, remote: fakeRemote(n, calls), local, concurrency: 4, post: (m) => posted.push(m) });
  p.hinted(hint);
  for (let i = 0; i < 100 && posted.filter((m) => m.t === "prefetched").length < n; i++) await Bun.sleep(5);
  return { p, calls, posted, local };
}

describe("SessionPrefetch", () => {
  test("a hint finds the manifest; its pack installs every entry, verified, with no request per object", async () => {
    const { p, calls, posted, local } = await prefetched(5, "h");
    expect(p.manifestKey).toBe("manifest/m");
    expect(p.foundByHint).toBe(true);
    expect(calls).toEqual(["hint h", "manifest", "pack"]);
    expect(posted.filter((m) => m.t === "prefetched").length).toBe(5);
    expect(posted.some((m) => m.t === "packFound")).toBe(true);
    for (let i = 1; i <= 5; i++) expect(local.get(entry(i).actionId)?.outputId).toBe(entry(i).outputId);
  });

  test("an unknown hint starts nothing", async () => {
    const calls: string[] = [];
    const p = new SessionPrefetch({ session: 1, remote: fakeRemote(3, calls), local: new LocalStore({ dir: tempDir("prefetch") }), concurrency: 4, post: () => {} });
    p.hinted("other");
    await Bun.sleep(20);
    expect(p.manifestKey).toBeUndefined();
    expect(calls).toEqual(["hint other"]);
  });

  test.each([
    ["exactly the manifest's entries", [1, 2, 3], true],
    ["fewer (the manifest lists a surplus)", [1, 2], false],
    ["one more", [1, 2, 3, 4], false],
    ["another output for one action", "changed", false],
  ] as const)("describes a session that used %s: %p", async (_name, used, want) => {
    const { p } = await prefetched(3, "h");
    const entries = used === "changed" ? [entry(1), entry(2), { ...entry(3), outputId: sha(body(99)) }] : used.map(entry);
    expect(p.describes(entries)).toBe(want);
  });
});
