/** install(): what is already on disk, against what a (possibly hostile) bucket record says. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { install } from "../../../src/remote/worker/fetch.ts";
import { LocalStore } from "../../../src/store/local.ts";
import type { CacheBucket } from "../../../src/remote/format/bucket.ts";
import { cleanupTempDirs, tempDir } from "../../support/paths.ts";

afterAll(cleanupTempDirs);

const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
const body = new TextEncoder().encode("the real output bytes");
const outputId = sha(body);
/** A bucket with nothing in it (every read a miss); counts its reads. */
const emptyBucket = () => {
  const reads: string[] = [];
  const remote = {
    encoding: "zstd",
    outputs: {
      get: async (id: string) => (reads.push(id), undefined),
      getToFile: async (id: string) => (reads.push(id), undefined),
    },
  } as unknown as CacheBucket;
  return { remote, reads };
};
const entry = (size: number) => ({ actionId: "f".repeat(64), outputId, size, timeNanos: 1n });

describe("install over a present object", () => {
  test.each([
    ["too large", body.length + 1],
    ["too small", body.length - 5],
  ])("a record whose size is %s does not delete a good local object: a miss, the file kept", async (_n, size) => {
    const local = new LocalStore({ dir: tempDir("fetch") });
    const path = local.putObjectBytes(outputId, body);
    const { remote, reads } = emptyBucket();
    const outcome = await install(remote, local, entry(size));
    expect("miss" in outcome && outcome.miss).toBe("digest-mismatch");
    expect(readFileSync(path)).toEqual(Buffer.from(body));
    expect(reads).toEqual([]);
  });

  test("a record of the right size, or none (compatible record), is a hit on the present object", async () => {
    const local = new LocalStore({ dir: tempDir("fetch") });
    local.putObjectBytes(outputId, body);
    const { remote } = emptyBucket();
    for (const size of [body.length, -1]) {
      const outcome = await install(remote, local, entry(size));
      expect("hit" in outcome && outcome.hit.size).toBe(body.length);
    }
  });

  test("a damaged local object (its bytes are not its name) is removed and fetched again", async () => {
    const local = new LocalStore({ dir: tempDir("fetch") });
    const path = local.putObjectBytes(outputId, body);
    writeFileSync(path, "damaged");
    const { remote, reads } = emptyBucket();
    const outcome = await install(remote, local, entry(body.length));
    expect("miss" in outcome && outcome.miss).toBe("no-output"); // asked the bucket, which has nothing
    expect(reads).toEqual([outputId]);
    expect(existsSync(path)).toBe(false);
  });
});
