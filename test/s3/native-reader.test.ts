/** The native reader against a real S3-compatible server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { nativeReader, type NativeReaderOptions, type ReaderCredentials } from "../../src/s3/native-reader.ts";
import { errorKind, isNotFound } from "../../src/s3/errors.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, writeKey } from "../support/bucket.ts";

let s3: S3Server;
let bucket: string;
beforeAll(async () => {
  s3 = await startS3Server();
  bucket = bucketName("reader");
  await s3.createBucket(bucket);
  await writeKey(s3, bucket, "k/one", new TextEncoder().encode("first"));
  await writeKey(s3, bucket, "k/big", new Uint8Array(5 << 20).fill(7));
});
afterAll(async () => { await s3?.destroy(); });

const good = (): ReaderCredentials => ({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
const reader = (o: Partial<NativeReaderOptions> = {}) =>
  nativeReader({ bucket, region: "us-east-1", endpoint: s3.endpoint, pathStyle: true, credentials: async () => good(), timeoutMs: 10_000, ...o });

describe("nativeReader", () => {
  test("reads a key's bytes, small and large", async () => {
    const read = reader();
    expect(new TextDecoder().decode(await read("k/one"))).toBe("first");
    const big = (await read("k/big"))!;
    expect(big.length).toBe(5 << 20);
    expect(big.every((b) => b === 7)).toBe(true);
  });

  test("a missing key is undefined", async () => {
    expect(await reader()("k/none")).toBeUndefined();
  });

  test.each([
    ["a missing bucket", { bucket: "no-such-bucket-here" }, "NoSuchBucket"],
    ["a wrong secret", { credentials: async () => ({ ...good(), secretAccessKey: "wrong" }) }, "SignatureDoesNotMatch"],
  ])("%s is an error with the server's code, never a miss", async (_name, o, code) => {
    const err = await reader(o)("k/one").catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    expect(isNotFound(err)).toBe(false);
    expect(errorKind(err)).toContain(code);
  });

  test("an unreachable server is an error", async () => {
    const err = await reader({ endpoint: "http://127.0.0.1:9" })("k/one").catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isNotFound(err)).toBe(false);
  });

  test("credentials are asked for each read, and a change takes effect at once", async () => {
    let creds: ReaderCredentials = { ...good(), secretAccessKey: "rotated-away" };
    let asked = 0;
    const read = reader({ credentials: async () => (asked++, creds) });
    expect(await read("k/one").catch((e) => e.code)).toBe("SignatureDoesNotMatch");
    creds = good();
    expect(new TextDecoder().decode(await read("k/one"))).toBe("first");
    expect(asked).toBe(2);
  });
});
