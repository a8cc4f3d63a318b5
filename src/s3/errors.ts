/**
 * Classification of S3 failures, from the SDK and from native requests (native.ts)
 * alike (both carry a name or code and an HTTP status). No SDK import here:
 * the read path uses it before the SDK is loaded.
 */
interface SdkError { name?: string; code?: string; $metadata?: { httpStatusCode?: number } }

/** The one place that decides what counts as "not found" for S3 (a missing key, never a missing bucket). */
export function isNotFound(err: unknown): boolean {
  const e = err as SdkError;
  if (e?.name === "NoSuchBucket" || e?.code === "NoSuchBucket") return false;
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
