/** Bucket-side helpers for remote-tier tests: plugin flags, listing, tampering. */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { s3Client, type S3Server } from "./s3server.ts";

/** Environment for the plugin: credentials only (no endpoint variables: the flags must do that). */
export function pluginS3Env(server: S3Server): Record<string, string> {
  const env = server.env();
  for (const k of Object.keys(env)) if (k.startsWith("AWS_ENDPOINT_URL")) delete env[k];
  return env;
}

/** Flags pointing the plugin at `bucket` on the test server. */
export function s3Flags(server: S3Server, bucket: string, prefix?: string): string[] {
  return ["--bucket", bucket, "--s3-endpoint-url", server.endpoint, "--s3-path-style", "--region", "us-east-1", ...(prefix ? ["--prefix", prefix] : [])];
}

export async function listKeys(server: S3Server, bucket: string): Promise<string[]> {
  const client = s3Client(server);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of out.Contents ?? []) keys.push(o.Key!);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

export async function readKey(server: S3Server, bucket: string, key: string): Promise<Uint8Array> {
  const out = await s3Client(server).send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return out.Body!.transformToByteArray();
}

export async function writeKey(server: S3Server, bucket: string, key: string, body: Uint8Array): Promise<void> {
  await s3Client(server).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }));
}

let n = 0;
/** A fresh bucket name for one test. */
export const bucketName = (label: string) => `${label}-${process.pid}-${++n}`.toLowerCase();

/** The blob contract's harness (test/blob/contract.ts) for S3: a versitygw server with a fresh bucket. */
export async function s3Harness(): Promise<import("../blob/contract.ts").BlobHarness> {
  const { startS3Server } = await import("./s3server.ts");
  const { openBlobStore } = await import("../../src/backends/open.ts");
  const server = await startS3Server();
  const bucket = bucketName("contract");
  await server.createBucket(bucket);
  const env = (secret = server.secretAccessKey) => ({ AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: secret });
  const open = (name: string, o: { listPageSize?: number; secret?: string } = {}) =>
    openBlobStore({ backend: "s3", bucket: name, endpoint: server.endpoint, pathStyle: true, region: "us-east-1" }, { env: env(o.secret), listPageSize: o.listPageSize, timeoutMs: 30_000 });
  return {
    open: (o) => open(bucket, o),
    openMissingBucket: () => open("no-such-bucket-here"),
    openWrongCredentials: () => open(bucket, { secret: "wrong-secret" }),
    tamper: (key, bytes) => writeKey(server, bucket, key, bytes),
    stop: () => server.destroy(),
  };
}
