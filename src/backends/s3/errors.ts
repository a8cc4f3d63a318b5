/**
 * The one place that decides what an S3 answer means: a missing key (a
 * miss), or a BlobError of the kind the policy above understands. Native
 * responses (status + the code of S3's XML error body) and the SDK's errors
 * (name + $metadata.httpStatusCode) go through the same table.
 */
import { BlobError, kindOfStatus, type BlobErrorKind } from "../../blob/port.ts";

/** Where credentials come from, for messages. */
export const CREDENTIAL_SOURCES = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the IAM role";

/** Codes whose meaning does not follow from their status. */
const KIND_OF_CODE: Record<string, BlobErrorKind> = {
  NoSuchBucket: "not-found",
  AccessDenied: "denied",
  InvalidAccessKeyId: "denied",
  SignatureDoesNotMatch: "denied",
  ExpiredToken: "denied",
  InvalidToken: "denied",
  TokenRefreshRequired: "denied",
  SlowDown: "unavailable",
  RequestTimeout: "unavailable",
  InternalError: "unavailable",
  ServiceUnavailable: "unavailable",
};

/** A failed answer: undefined for a missing key (never a missing bucket), else the error to throw. */
export function s3Failure(what: string, status: number, code: string, message = ""): BlobError | undefined {
  if (code === "NoSuchKey" || (status === 404 && code !== "NoSuchBucket")) return undefined;
  const kind = KIND_OF_CODE[code] ?? kindOfStatus(status);
  const hint = kind === "denied" ? `; check the credentials (${CREDENTIAL_SOURCES}) and their permissions on this bucket` : "";
  return new BlobError(kind, `[s3] ${what}: HTTP ${status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}${hint}`, { status, code });
}

/** An SDK (or Bun S3 client) error as a BlobError; undefined for a missing key. */
export function fromSdkError(what: string, err: unknown): BlobError | undefined {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  const code = e?.code && /^[A-Za-z]+$/.test(e.code) ? e.code : (e?.name ?? "");
  if (status === undefined && !KIND_OF_CODE[code] && code !== "NoSuchKey") {
    // No answer from S3 at all: the network, a timeout, or credentials that could not be found.
    const kind: BlobErrorKind = /credential/i.test(`${e?.name} ${e?.message}`) ? "denied" : "unavailable";
    return new BlobError(kind, `[s3] ${what}: ${e?.message ?? String(err)}`, { cause: err });
  }
  const out = s3Failure(what, status ?? 400, code);
  if (out) (out as { cause?: unknown }).cause = err;
  return out;
}
