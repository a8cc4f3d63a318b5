/** Native reads and writes against a real S3-compatible server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TooLargeError, nativeIO, type NativeOptions, type S3Credentials } from "../../src/s3/native.ts";
import { errorKind, isNotFound, isPreconditionFailed } from "../../src/s3/errors.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, writeKey } from "../support/bucket.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

let s3: S3Server;
let bucket: string;
beforeAll(async () => {
  s3 = await startS3Server();
  bucket = bucketName("reader");
  await s3.createBucket(bucket);
  await writeKey(s3, bucket, "k/one", new TextEncoder().encode("first"));
  await writeKey(s3, bucket, "k/big", new Uint8Array(5 << 20).fill(7));
});
afterAll(async () => { await s3?.destroy(); cleanupTempDirs(); });

const good = (): S3Credentials => ({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
const io = (o: Partial<NativeOptions> = {}) =>
  nativeIO({ bucket, region: "us-east-1", endpoint: s3.endpoint, pathStyle: true, credentials: async () => good(), timeoutMs: 10_000, ...o });

describe("nativeIO", () => {
  test("reads a key's bytes, small and large", async () => {
    const { read } = io();
    expect(new TextDecoder().decode(await read("k/one", 64 << 20))).toBe("first");
    const big = (await read("k/big", 64 << 20))!;
    expect(big.length).toBe(5 << 20);
    expect(big.every((b) => b === 7)).toBe(true);
  });

  test("readToFile streams a key into a file (truncating what was there); a missing key is undefined and writes nothing", async () => {
    const { readToFile } = io();
    const path = `${tempDir("native")}/obj`;
    await Bun.write(path, "x".repeat(6 << 20)); // longer than the object: must not survive
    expect(await readToFile("k/big", path, 64 << 20)).toBe(5 << 20);
    const got = await Bun.file(path).bytes();
    expect(got.length).toBe(5 << 20);
    expect(got.every((b) => b === 7)).toBe(true);
    expect(await readToFile("k/none", `${path}.none`, 64 << 20)).toBeUndefined();
    expect(await Bun.file(`${path}.none`).exists()).toBe(false);
    const err = await io({ bucket: "no-such-bucket-here" }).readToFile("k/one", `${path}.err`, 64 << 20).catch((e) => e);
    expect(err.code).toBe("NoSuchBucket");
  });

  test("a missing key is undefined", async () => {
    expect(await io().read("k/none", 1 << 20)).toBeUndefined();
  });

  test.each([
    ["a missing bucket", { bucket: "no-such-bucket-here" }, "NoSuchBucket"],
    ["a wrong secret", { credentials: async () => ({ ...good(), secretAccessKey: "wrong" }) }, "SignatureDoesNotMatch"],
  ])("%s is an error with the server's code, never a miss", async (_name, o, code) => {
    const err = await io(o).read("k/one", 1 << 20).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    expect(isNotFound(err)).toBe(false);
    expect(errorKind(err)).toContain(code);
  });

  test("an unreachable server is an error", async () => {
    const err = await io({ endpoint: "http://127.0.0.1:9" }).read("k/one", 1 << 20).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isNotFound(err)).toBe(false);
  });

  test("writes: what is written reads back; a conditional write of an existing key is a 412 error; an unconditional one replaces it", async () => {
    const { read, write } = io();
    const enc = (t: string) => new TextEncoder().encode(t);
    await write("w/one", enc("first"), { ifNoneMatch: true });
    expect(new TextDecoder().decode(await read("w/one", 64 << 20))).toBe("first");
    const err = await write("w/one", enc("second"), { ifNoneMatch: true }).catch((e) => e);
    expect(isPreconditionFailed(err)).toBe(true);
    expect(new TextDecoder().decode(await read("w/one", 64 << 20))).toBe("first");
    await write("w/one", enc("third"));
    expect(new TextDecoder().decode(await read("w/one", 64 << 20))).toBe("third");
    const big = new Uint8Array(12 << 20).fill(3);
    await write("w/big", big);
    expect((await read("w/big", 64 << 20))!.length).toBe(big.length);
  });

  test("a write with a wrong secret is an error with the server's code", async () => {
    const err = await io({ credentials: async () => ({ ...good(), secretAccessKey: "wrong" }) }).write("w/x", new Uint8Array(1)).catch((e) => e);
    expect(err.code).toBe("SignatureDoesNotMatch");
    expect(await io().read("w/x", 1 << 20)).toBeUndefined();
  });

  test("credentials are asked for each read, and a change takes effect at once", async () => {
    let creds: S3Credentials = { ...good(), secretAccessKey: "rotated-away" };
    let asked = 0;
    const { read } = io({ credentials: async () => (asked++, creds) });
    expect(await read("k/one", 64 << 20).catch((e) => e.code)).toBe("SignatureDoesNotMatch");
    creds = good();
    expect(new TextDecoder().decode(await read("k/one", 64 << 20))).toBe("first");
    expect(asked).toBe(2);
  });
  test("reads are bounded: a body over the caller's limit is refused (announced length), a file body is streamed on write", async () => {
    const { read, readToFile, write } = io();
    const err = await read("k/big", 1024).catch((e) => e);
    expect(err).toBeInstanceOf(TooLargeError);
    const path = `${tempDir("native")}/bounded`;
    const err2 = await readToFile("k/big", path, 1024).catch((e) => e);
    expect(err2).toBeInstanceOf(TooLargeError);
    expect(await Bun.file(path).exists()).toBe(false);
    const src = `${tempDir("native")}/src`;
    await Bun.write(src, new Uint8Array(3 << 20).fill(9));
    await write("w/file", Bun.file(src));
    const back = (await read("w/file", 4 << 20))!;
    expect(back.length).toBe(3 << 20);
    expect(back.every((b) => b === 9)).toBe(true);
  });
});
