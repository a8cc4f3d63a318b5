/**
 * Where S3 credentials and the region come from. Static keys in the
 * environment are used as they are (the SDK's default chain would take them
 * too); anything else (profiles, SSO, web identity, container and instance
 * roles) goes through the SDK client's default provider chain (which caches
 * and refreshes them), loaded on first use only, after the capability
 * message.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3Credentials } from "./sign.ts";
import { BlobError } from "../../blob/port.ts";

type Env = Record<string, string | undefined>;

/**
 * Static credentials from the environment, where the SDK's default chain
 * would take them too: both keys set and no profile selected (AWS_PROFILE
 * makes the SDK skip the environment).
 */
export function envCredentials(env: Env): S3Credentials | undefined {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  if (!accessKeyId || !secretAccessKey || env.AWS_PROFILE) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
}

const WHAT_TO_SET = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, select a profile with AWS_PROFILE, or run with an IAM role (instance profile, ECS task role, EKS web identity)";

/** A provider of the current credentials; a missing chain is one line naming the bucket and what to set. */
export function credentialProvider(opts: { name: string; env: Env; client: () => Promise<S3Client> }): () => Promise<S3Credentials> {
  const fromEnv = envCredentials(opts.env);
  if (fromEnv) return async () => fromEnv;
  return async () => {
    try {
      return await (await opts.client()).config.credentials();
    } catch (err) {
      throw new BlobError("denied", `[s3] ${opts.name}: no credentials found: ${WHAT_TO_SET}`, { cause: err });
    }
  };
}

/** The region to use: the flag, the SDK's environment, or the bucket's own location (asked through the SDK). */
export async function resolveRegion(opts: { bucket: string; region?: string; endpoint?: string; pathStyle: boolean; env: Env }): Promise<string> {
  const fromEnv = opts.env.AWS_REGION || opts.env.AWS_DEFAULT_REGION;
  if (opts.region) return opts.region;
  if (fromEnv) return fromEnv;
  if (opts.endpoint) return "us-east-1"; // S3-compatible stores rarely care
  const [{ GetBucketLocationCommand }, { createS3Client }] = await Promise.all([import("@aws-sdk/client-s3"), import("./sdk.ts")]);
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
