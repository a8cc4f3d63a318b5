/**
 * The blob port's contract (src/blob/port.ts), as one suite that every
 * backend runs against its real server or emulator: a new backend is proven
 * by adding one harness (test/support/) and one line in blob.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlobError, LocalWriteError, type BlobStore } from "../../src/blob/port.ts";

/** What a backend's test harness provides (a running server with a fresh, empty bucket). */
export interface BlobHarness {
  /** Opens the harness's bucket; `listPageSize` forces paging. */
  open(opts?: { listPageSize?: number }): Promise<BlobStore>;
  /** A store for a bucket that does not exist on the same server. */
  openMissingBucket(): Promise<BlobStore>;
  /** A store whose credentials the server refuses. */
  openWrongCredentials(): Promise<BlobStore>;
  /** Overwrites a key's bytes behind the store's back (a tampering bucket user). */
  tamper(key: string, bytes: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

async function thrown(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}

export function blobContract(name: string, start: () => Promise<BlobHarness>): void {
  describe(`blob port contract: ${name}`, () => {
    let h: BlobHarness;
    let store: BlobStore;
    let dir: string;
    beforeAll(async () => {
      h = await start();
      store = await h.open();
      dir = mkdtempSync(join(tmpdir(), "blob-contract-"));
    });
    afterAll(async () => {
      store?.close();
      await h?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("a missing key is undefined for read, readToFile and head", async () => {
      expect(await store.read("nope/missing", 100)).toBeUndefined();
      expect(await store.readToFile("nope/missing", join(dir, "missing"), 100)).toBeUndefined();
      expect(await store.head("nope/missing")).toBeUndefined();
    });

    test.each([
      ["a small body", "p/small", bytes("hello, bucket")],
      ["an empty body", "p/empty", new Uint8Array(0)],
      ["binary bytes", "p/bin/00/ff", new Uint8Array([0, 255, 10, 13, 0, 1])],
      ["a key with every allowed character", "x/A-z_0.9/a.b-c_d", bytes("k")],
      ["a module proxy key (escaped path, @, !, ~ and +)", "module/example.com/!upper/~x/@v/v2.0.0-!r!c1+incompatible.zip", bytes("zip")],
    ])("%s round-trips, with its size in head", async (_label, key, body) => {
      expect(await store.write(key, body)).toBe("written");
      expect(await store.read(key, 1 << 20)).toEqual(body);
      const info = await store.head(key);
      expect(info?.size).toBe(body.length);
      expect(info?.key).toBe(key);
      expect(Math.abs(info!.modifiedMs - Date.now())).toBeLessThan(10 * 60_000);
    });

    test("write without ifAbsent replaces; with ifAbsent it never does", async () => {
      expect(await store.write("w/key", bytes("one"))).toBe("written");
      expect(await store.write("w/key", bytes("two"))).toBe("written");
      expect(text(await store.read("w/key", 100))).toBe("two");
      expect(await store.write("w/key", bytes("three"), { ifAbsent: true })).toBe("exists");
      expect(text(await store.read("w/key", 100))).toBe("two");
      expect(await store.write("w/new", bytes("first"), { ifAbsent: true })).toBe("written");
      expect(text(await store.read("w/new", 100))).toBe("first");
    });

    test("concurrent if-absent writes of one key: exactly one is written", async () => {
      const outcomes = await Promise.all(["a", "b", "c", "d"].map((v) => store.write("race/key", bytes(v), { ifAbsent: true })));
      expect(outcomes.filter((o) => o === "written").length).toBe(1);
      expect(outcomes.filter((o) => o === "exists").length).toBe(3);
    });

    test("a Blob body (a file) is streamed up", async () => {
      const path = join(dir, "upload.bin");
      const body = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 255);
      writeFileSync(path, body);
      expect(await store.write("f/file", Bun.file(path))).toBe("written");
      expect(await store.read("f/file", 4 << 20)).toEqual(body);
    });

    test("readToFile writes exactly the body and says its size", async () => {
      await store.write("r/file", bytes("streamed body"));
      const path = join(dir, "down");
      writeFileSync(path, "longer old contents that must be truncated away");
      expect(await store.readToFile("r/file", path, 100)).toBe(13);
      expect(readFileSync(path, "utf8")).toBe("streamed body");
    });

    test("a body over maxBytes is an invalid-kind BlobError, for read and readToFile", async () => {
      await store.write("b/big", new Uint8Array(1000));
      const e1 = await thrown(store.read("b/big", 999));
      expect(e1).toBeInstanceOf(BlobError);
      expect((e1 as BlobError).kind).toBe("invalid");
      const e2 = await thrown(store.readToFile("b/big", join(dir, "big"), 999));
      expect(e2).toBeInstanceOf(BlobError);
      expect((e2 as BlobError).kind).toBe("invalid");
      expect(await store.read("b/big", 1000)).toHaveLength(1000);
    });

    test("readToFile into an unwritable place is a LocalWriteError, not a store failure", async () => {
      await store.write("l/key", bytes("x"));
      // Under a regular file: no directory can be made there (Bun.write makes missing directories).
      writeFileSync(join(dir, "a-file"), "x");
      const err = await thrown(store.readToFile("l/key", join(dir, "a-file", "f"), 100));
      expect(err).toBeInstanceOf(LocalWriteError);
    });

    test("list returns every key under a prefix, in order, across pages", async () => {
      const paged = await h.open({ listPageSize: 7 });
      try {
        const keys = Array.from({ length: 20 }, (_, i) => `list/${String(i).padStart(2, "0")}`);
        await Promise.all(keys.map((k) => paged.write(k, bytes(k))));
        await paged.write("listing-not-under/x", bytes("x"));
        const seen = [];
        for await (const info of paged.list("list/")) seen.push(info);
        expect(seen.map((i) => i.key)).toEqual(keys);
        expect(seen.every((i) => i.size === 7)).toBe(true);
        const none = [];
        for await (const info of paged.list("nothing-here/")) none.push(info);
        expect(none).toEqual([]);
      } finally {
        paged.close();
      }
    });

    test("delete removes a key; deleting a missing key is not an error", async () => {
      await store.write("d/key", bytes("x"));
      await store.delete("d/key");
      expect(await store.read("d/key", 10)).toBeUndefined();
      await store.delete("d/key");
      await store.delete("d/never-was");
    });

    test("what another writer changed is what is read (no stale cache in the store)", async () => {
      await store.write("t/key", bytes("good"));
      await h.tamper("t/key", bytes("evil"));
      expect(text(await store.read("t/key", 100))).toBe("evil");
    });

    test("a missing bucket is a not-found BlobError naming the store, not a miss", async () => {
      const missing = await h.openMissingBucket();
      try {
        const err = await thrown(missing.read("any/key", 100));
        expect(err).toBeInstanceOf(BlobError);
        expect((err as BlobError).kind).toBe("not-found");
        expect((err as Error).message).toContain(missing.name);
      } finally {
        missing.close();
      }
    });

    test("refused credentials are a denied BlobError", async () => {
      const wrong = await h.openWrongCredentials();
      try {
        const err = await thrown(wrong.read("any/key", 100));
        expect(err).toBeInstanceOf(BlobError);
        expect((err as BlobError).kind).toBe("denied");
        const err2 = await thrown(wrong.write("any/key", bytes("x")));
        expect((err2 as BlobError).kind).toBe("denied");
      } finally {
        wrong.close();
      }
    });

    test("a 100 MB object round-trips through a file", async () => {
      const up = join(dir, "100mb");
      const body = new Uint8Array(100 << 20);
      for (let i = 0; i < body.length; i += 4096) body[i] = (i >> 12) & 255;
      writeFileSync(up, body);
      expect(await store.write("big/100mb", Bun.file(up))).toBe("written");
      const down = join(dir, "100mb.down");
      expect(await store.readToFile("big/100mb", down, 200 << 20)).toBe(body.length);
      const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
      expect(sha(readFileSync(down))).toBe(sha(body));
      rmSync(up);
      rmSync(down);
    });
  });
}
