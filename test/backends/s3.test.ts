/** The S3 backend: the blob contract against versitygw, then what is S3's own (credentials, its error codes). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { blobContract } from "../blob/contract.ts";
import { bucketName, s3Harness } from "../support/bucket.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";
import { openBlobStore } from "../../src/backends/open.ts";
import { BlobError, failureLabel } from "../../src/blob/port.ts";
import { envCredentials } from "../../src/backends/s3/credentials.ts";

blobContract("s3 (versitygw)", s3Harness);

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); cleanupTempDirs(); });

const spec = (bucket: string, endpoint = s3.endpoint) => ({ backend: "s3" as const, bucket, endpoint, pathStyle: true, region: "us-east-1" });
const keys = (secret = s3.secretAccessKey) => ({ AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: secret });

describe("S3 errors", () => {
  test.each([
    ["a wrong secret", () => openBlobStore(spec("any"), { env: keys("wrong") }), "denied", "SignatureDoesNotMatch"],
    ["a missing bucket", () => openBlobStore(spec("no-such-bucket-here"), { env: keys() }), "not-found", "NoSuchBucket"],
    ["an unreachable server", () => openBlobStore(spec("any", "http://127.0.0.1:9"), { env: keys(), timeoutMs: 5_000 }), "unavailable", undefined],
  ])("%s: a BlobError of kind %s with the server's code, never a miss", async (_name, open, kind, code) => {
    const store = await open();
    const err = await store.read("k/one", 100).catch((e) => e);
    expect(err).toBeInstanceOf(BlobError);
    expect(err.kind).toBe(kind);
    expect(err.code).toBe(code);
    expect(err.message).toContain("s3://");
    expect(failureLabel(new Error("wrapped", { cause: err }))).toContain(kind);
    store.close();
  });
});

test("a HEAD on a missing bucket is not-found, not a miss (a HEAD has no body to say which is missing)", async () => {
  const store = await openBlobStore(spec("no-such-bucket-for-head"), { env: keys() });
  try {
    const err = await store.head("any/key").catch((e) => e);
    expect(err).toBeInstanceOf(BlobError);
    expect(err.kind).toBe("not-found");
  } finally {
    store.close();
  }
});

describe("credentials through the SDK's chain", () => {
  test("with a profile selected, requests sign with the profile's keys from the shared credentials file", async () => {
    const bucket = bucketName("profile");
    await s3.createBucket(bucket);
    const file = join(tempDir("aws"), "credentials");
    writeFileSync(file, `[ci]\naws_access_key_id = ${s3.accessKeyId}\naws_secret_access_key = ${s3.secretAccessKey}\n`);
    const saved = { ...process.env };
    // Wrong keys in the environment: the SDK skips them when a profile is selected, and so must we.
    const env = { AWS_PROFILE: "ci", AWS_SHARED_CREDENTIALS_FILE: file, AWS_CONFIG_FILE: join(tempDir("aws"), "none"), AWS_ACCESS_KEY_ID: "wrong", AWS_SECRET_ACCESS_KEY: "wrong" };
    Object.assign(process.env, env);
    const store = await openBlobStore(spec(bucket), { env });
    try {
      await store.write("p/k", new TextEncoder().encode("from a profile"));
      expect(new TextDecoder().decode(await store.read("p/k", 1 << 20))).toBe("from a profile");
    } finally {
      store.close();
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  test("no credentials anywhere: one denied error naming the bucket and what to set", async () => {
    const saved = { ...process.env };
    const env = { AWS_PROFILE: "none-such", AWS_SHARED_CREDENTIALS_FILE: join(tempDir("aws"), "none"), AWS_CONFIG_FILE: join(tempDir("aws"), "none"), AWS_EC2_METADATA_DISABLED: "true" };
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]) delete process.env[k];
    Object.assign(process.env, env);
    const store = await openBlobStore(spec("nocreds"), { env });
    try {
      const err = await store.read("k", 10).catch((e) => e);
      expect(err).toBeInstanceOf(BlobError);
      expect(err.kind).toBe("denied");
      expect(err.message).toContain("s3://nocreds");
      expect(err.message).toContain("AWS_ACCESS_KEY_ID");
    } finally {
      store.close();
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});

describe("envCredentials", () => {
  test.each([
    ["both keys", { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "s" }, { accessKeyId: "a", secretAccessKey: "s", sessionToken: undefined }],
    ["keys and a session token", { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "s", AWS_SESSION_TOKEN: "t" }, { accessKeyId: "a", secretAccessKey: "s", sessionToken: "t" }],
    ["no secret", { AWS_ACCESS_KEY_ID: "a" }, undefined],
    ["nothing", {}, undefined],
    ["a profile selected (the SDK then skips the environment)", { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "s", AWS_PROFILE: "ci" }, undefined],
  ])("%s", (_name, env, want) => {
    expect(envCredentials(env)).toEqual(want);
  });
});
