/**
 * SDK client set-up: the SDK supplies what Bun lacks (the default credential
 * chain, a bucket's region, a HEAD where a store ignores conditional
 * writes). Always loaded with a dynamic import, so the SDK sits neither on
 * the protocol loop's start-up path nor in front of a fresh runner's first
 * reads.
 */
import { S3Client } from "@aws-sdk/client-s3";

/** The S3 part of a BlobSpec. */
export interface S3Options {
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
