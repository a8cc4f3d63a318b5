/**
 * Bucket I/O for the remote store: reads and writes go through Bun's native
 * signing and fetch (native.ts); the SDK supplies credentials from its
 * default provider chain (unless they are plainly in the environment), finds
 * a bucket's region, and checks existence where a store ignores conditional
 * writes. It is loaded on first use only, so a fresh runner's first reads
 * need not wait for it.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3Options } from "./client.ts";
import { isNotFound } from "./errors.ts";
import { nativeIO, type KeyFileReader, type KeyReader, type KeyWriter, type S3Credentials } from "./native.ts";

/** Bound on one request, body included. */
const REQUEST_TIMEOUT_MS = 120_000;

export interface BucketIO {
  /** The key's bytes; undefined when the key does not exist; throws on failure. */
  read: KeyReader;
  /** Streams a key into a file (truncating it): the byte count; undefined when the key does not exist; throws on failure. */
  readToFile: KeyFileReader;
  /** Writes a key; with ifNoneMatch the write fails (412) when the key exists. */
  write: KeyWriter;
  /** Whether the key exists. */
  exists(key: string): Promise<boolean>;
  destroy(): void;
}

interface Sdk {
  client: S3Client;
  mod: typeof import("@aws-sdk/client-s3");
}

export function openBucket(opts: S3Options, region: string): BucketIO {
  let sdk: Promise<Sdk> | undefined;
  const loadSdk = (): Promise<Sdk> =>
    (sdk ??= Promise.all([import("@aws-sdk/client-s3"), import("./client.ts")]).then(([mod, c]) => ({ mod, client: c.createS3Client(opts, region) })));
  const fromEnv = envCredentials(process.env);
  const { read, readToFile, write } = nativeIO({
    bucket: opts.bucket,
    region,
    endpoint: opts.endpoint,
    pathStyle: opts.pathStyle,
    credentials: fromEnv ? async () => fromEnv : async () => (await loadSdk()).client.config.credentials(),
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  return {
    read,
    readToFile,
    write,
    async exists(key) {
      const { client, mod } = await loadSdk();
      try {
        await client.send(new mod.HeadObjectCommand({ Bucket: opts.bucket, Key: key }));
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    destroy() {
      void sdk?.then((s) => s.client.destroy(), () => {});
    },
  };
}

/**
 * Static credentials from the environment, where the SDK's default chain
 * would take them too: both keys set and no profile selected (AWS_PROFILE
 * makes the SDK skip the environment).
 */
export function envCredentials(env: Record<string, string | undefined>): S3Credentials | undefined {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  if (!accessKeyId || !secretAccessKey || env.AWS_PROFILE) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
}

/** The region to use: the flag, the SDK's environment, or the bucket's own location (asked through the SDK). */
export async function resolveRegion(opts: S3Options): Promise<string> {
  const fromEnv = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (opts.region) return opts.region;
  if (fromEnv) return fromEnv;
  if (opts.endpoint) return "us-east-1"; // S3-compatible stores rarely care
  const [{ GetBucketLocationCommand }, { createS3Client }] = await Promise.all([import("@aws-sdk/client-s3"), import("./client.ts")]);
  const probe = createS3Client(opts, "us-east-1");
  try {
    const out = await probe.send(new GetBucketLocationCommand({ Bucket: opts.bucket }));
    // An empty constraint means us-east-1; "EU" is the legacy name of eu-west-1.
    const loc = out.LocationConstraint as string | undefined;
    return !loc ? "us-east-1" : loc === "EU" ? "eu-west-1" : loc;
  } catch (err) {
    throw new Error(`[s3] find the region of bucket ${opts.bucket} (set --region to skip this)`, { cause: err });
  } finally {
    probe.destroy();
  }
}
