/** Bucket I/O: native reads and SDK writes against a real S3-compatible server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { envCredentials, openBucket } from "../../src/s3/io.ts";
import { isPreconditionFailed } from "../../src/s3/errors.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName } from "../support/bucket.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); cleanupTempDirs(); });

describe("openBucket", () => {
  test("what is written reads back; exists says so; a conditional rewrite is refused", async () => {
    const bucket = bucketName("io");
    await s3.createBucket(bucket);
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });
    const io = openBucket({ bucket, endpoint: s3.endpoint, pathStyle: true }, "us-east-1");
    try {
      expect(await io.exists("a/b")).toBe(false);
      expect(await io.read("a/b", 1 << 20)).toBeUndefined();
      await io.write("a/b", new TextEncoder().encode("one"), { ifNoneMatch: true });
      expect(await io.exists("a/b")).toBe(true);
      expect(new TextDecoder().decode(await io.read("a/b", 1 << 20))).toBe("one");
      const err = await io.write("a/b", new TextEncoder().encode("two"), { ifNoneMatch: true }).catch((e) => e);
      expect(isPreconditionFailed(err)).toBe(true);
      await io.write("a/b", new TextEncoder().encode("three"));
      expect(new TextDecoder().decode(await io.read("a/b", 1 << 20))).toBe("three");
    } finally {
      io.destroy();
    }
  });
});

describe("credentials through the SDK's chain", () => {
  test("with a profile selected, reads sign with the profile's keys from the shared credentials file", async () => {
    const bucket = bucketName("profile");
    await s3.createBucket(bucket);
    const file = join(tempDir("aws"), "credentials");
    writeFileSync(file, `[ci]\naws_access_key_id = ${s3.accessKeyId}\naws_secret_access_key = ${s3.secretAccessKey}\n`);
    const saved = { ...process.env };
    // Wrong keys in the environment: the SDK skips them when a profile is selected, and so must we.
    Object.assign(process.env, { AWS_PROFILE: "ci", AWS_SHARED_CREDENTIALS_FILE: file, AWS_CONFIG_FILE: join(tempDir("aws"), "none"), AWS_ACCESS_KEY_ID: "wrong", AWS_SECRET_ACCESS_KEY: "wrong" });
    const io = openBucket({ bucket, endpoint: s3.endpoint, pathStyle: true }, "us-east-1");
    try {
      await io.write("p/k", new TextEncoder().encode("from a profile"));
      expect(new TextDecoder().decode(await io.read("p/k", 1 << 20))).toBe("from a profile");
    } finally {
      io.destroy();
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
