/**
 * S3 client set-up and error classification, shared by everything that talks
 * to the bucket. Loaded only inside the upload/fault-in worker, so the SDK
 * never sits on the start-up path of the protocol loop.
 */
import { S3Client } from "@aws-sdk/client-s3";

export interface S3Options {
  bucket: string;
  region?: string;
  endpoint?: string;
  pathStyle: boolean;
}

/**
 * A client that S3-compatible stores accept: checksums only when an API
 * requires them (the default CRC32 trailers turn bodies into aws-chunked
 * encoding, which several stores reject), credentials from the SDK's default
 * chain, and short connection timeouts so an unreachable bucket is noticed
 * quickly instead of stalling builds.
 */
export function createS3Client(opts: S3Options, region: string): S3Client {
  return new S3Client({
    region,
    endpoint: opts.endpoint,
    forcePathStyle: opts.pathStyle,
    followRegionRedirects: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 3_000, requestTimeout: 120_000 },
  });
}

/** The region to use: the flag, the SDK's environment, or the bucket's own location. */
export async function resolveRegion(opts: S3Options): Promise<string> {
  const fromEnv = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (opts.region) return opts.region;
  if (fromEnv) return fromEnv;
  if (opts.endpoint) return "us-east-1"; // S3-compatible stores rarely care
  const { GetBucketLocationCommand } = await import("@aws-sdk/client-s3");
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

interface SdkError { name?: string; code?: string; $metadata?: { httpStatusCode?: number } }

/** The one place that decides what counts as "not found" for S3. */
export function isNotFound(err: unknown): boolean {
  const e = err as SdkError;
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
}

/** A conditional write lost because the key already exists. */
export function isPreconditionFailed(err: unknown): boolean {
  const e = err as SdkError;
  return e?.name === "PreconditionFailed" || e?.$metadata?.httpStatusCode === 412;
}

/** The server does not support the conditional header. */
export function isNotImplemented(err: unknown): boolean {
  const e = err as SdkError;
  return e?.name === "NotImplemented" || e?.$metadata?.httpStatusCode === 501;
}

/** A short stable label for a kind of failure, used to warn once per kind. */
export function errorKind(err: unknown): string {
  const e = err as SdkError & { errno?: string };
  const status = e?.$metadata?.httpStatusCode;
  return [e?.name ?? "Error", e?.code, status].filter(Boolean).join("/");
}
