/**
 * Checks the versitygw test server (test/support/s3server.ts) and pins down the
 * S3 behaviours the cache's remote tier relies on, as this server implements them.
 */
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { s3Client, startS3Server, type S3Server } from "./s3server";

const TIMEOUT = 30_000;
const BUCKET = "cache-test";

let server: S3Server;
let client: S3Client;

beforeAll(async () => {
  server = await startS3Server();
  client = s3Client(server);
  await server.createBucket(BUCKET);
}, TIMEOUT);

afterAll(async () => {
  client?.destroy();
  await server?.destroy();
}, TIMEOUT);

/** The rejection of `p`, or a failure if it resolves. */
async function rejection(p: Promise<unknown>): Promise<{ name: string; $metadata: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (err) {
    return err as { name: string; $metadata: { httpStatusCode?: number } };
  }
  throw new Error("expected the request to fail");
}

async function getText(key: string): Promise<string> {
  const res = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return await res.Body!.transformToString();
}

describe("S3 test server", () => {
  test("listens on loopback and exports matching env", () => {
    expect(server.endpoint).toBe(`http://127.0.0.1:${server.port}`);
    const env = server.env();
    expect(env.AWS_ACCESS_KEY_ID).toBe(server.accessKeyId);
    expect(env.AWS_SECRET_ACCESS_KEY).toBe(server.secretAccessKey);
    expect(env.AWS_REGION).toBe("us-east-1");
    expect(env.AWS_EC2_METADATA_DISABLED).toBe("true");
  });

  test("PutObject/GetObject round-trip", async () => {
    const body = new TextEncoder().encode("hello, cache\n");
    const put = await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "a/round-trip", Body: body }));
    expect(put.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "a/round-trip" }));
    expect(got.ContentLength).toBe(body.length);
    expect(got.ETag).toBe(put.ETag);
    expect(await got.Body!.transformToByteArray()).toEqual(body);
  }, TIMEOUT);

  test("If-None-Match: * creates once, then 412 PreconditionFailed", async () => {
    const key = "conditional";
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "first", IfNoneMatch: "*" }));
    const err = await rejection(
      client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "second", IfNoneMatch: "*" })),
    );
    expect(err.name).toBe("PreconditionFailed");
    expect(err.$metadata.httpStatusCode).toBe(412);
    expect(await getText(key)).toBe("first");
  }, TIMEOUT);

  test("If-None-Match: * under concurrency: exactly one writer wins", async () => {
    const key = "conditional-race";
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `writer ${i}`, IfNoneMatch: "*" })),
      ),
    );
    const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
    expect(won).toHaveLength(1);
    for (const r of results) {
      if (r.status === "rejected") expect(r.reason.$metadata.httpStatusCode).toBe(412);
    }
    expect(await getText(key)).toBe(`writer ${won[0]}`);
  }, TIMEOUT);

  test("missing key: HeadObject -> NotFound 404, GetObject -> NoSuchKey 404", async () => {
    const head = await rejection(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "missing" })));
    expect(head.name).toBe("NotFound"); // HEAD has no body, so the SDK only has the status
    expect(head.$metadata.httpStatusCode).toBe(404);
    const get = await rejection(client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "missing" })));
    expect(get.name).toBe("NoSuchKey");
    expect(get.$metadata.httpStatusCode).toBe(404);
  }, TIMEOUT);

  test("posix backend: a key cannot be both an object and a 'directory' prefix", async () => {
    // Keys map to file paths, so "p/q" as a file blocks "p/q/r" and vice versa.
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "p/q", Body: "file" }));
    const under = await rejection(client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "p/q/r", Body: "x" })));
    expect(under.name).toBe("ObjectParentIsFile");
    expect(under.$metadata.httpStatusCode).toBe(409);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "m/n/o", Body: "file" }));
    const over = await rejection(client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "m/n", Body: "x" })));
    expect(over.name).toBe("ExistingObjectIsDirectory");
    expect(over.$metadata.httpStatusCode).toBe(409);
  }, TIMEOUT);

  test("ListObjectsV2 with a prefix", async () => {
    for (const k of ["list/one", "list/two", "list/sub/three"]) {
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: k }));
    }
    const res = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "list/" }));
    expect(res.Contents?.map((o) => o.Key).sort()).toEqual(["list/one", "list/sub/three", "list/two"]);
    expect(res.Contents?.find((o) => o.Key === "list/one")?.Size).toBe("list/one".length);
    expect(res.KeyCount).toBe(3);
  }, TIMEOUT);

  test("stop + start keeps endpoint and data", async () => {
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "persist", Body: "still here" }));
    const endpoint = server.endpoint;
    await server.stop();
    const down = await rejection(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "persist" })));
    expect(down.$metadata.httpStatusCode).toBeUndefined(); // connection refused, no HTTP response
    await server.start();
    expect(server.endpoint).toBe(endpoint);
    expect(await getText("persist")).toBe("still here");
  }, TIMEOUT);
});
