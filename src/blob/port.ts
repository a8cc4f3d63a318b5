/**
 * The blob port: the one view of a bucket that everything above the
 * backends uses (the build cache's remote tier and the module proxy alike).
 * A backend (backends/s3, gcs, azure) implements it with that service's requests
 * and credentials and nothing else; no code above this file ever sees a
 * service's status codes or error names.
 *
 * Keys are relative to the bucket (or container) and already carry any
 * user prefix; they are printable ASCII without space, `\\`, `?`, `#` or `%`
 * (the callers' key layouts guarantee it: hex IDs, escaped module paths
 * with `@` and `!`), and a backend escapes them as its service's URLs need.
 *
 * Contract, for every backend:
 * - A missing key is `undefined` (read, readToFile, head), never an error.
 *   A missing bucket is an error (kind "not-found"): it is a set-up mistake,
 *   not a miss.
 * - Every other failure throws a BlobError, whose kind says what policy may
 *   do about it (retry "unavailable"; report the rest) and whose message
 *   names the backend and the key.
 * - Bodies are bounded: a read never returns, and readToFile never writes,
 *   more than `maxBytes`; a body announced or streamed longer is a BlobError
 *   of kind "invalid" (the read stops there: a hostile store cannot fill
 *   memory or disk). readToFile refuses a body without a declared length.
 * - A failure to write the local file in readToFile is a LocalWriteError
 *   (the disk, not the store): asking the store again does not help.
 * - write with `ifAbsent` never replaces an existing key: "exists" when the
 *   key was there, "written" otherwise (a backend whose service ignores the
 *   condition checks first). A Blob body (a file) is streamed.
 * - Redirects are never followed (they could point anywhere).
 */

/** What a failure means to the policy above, whatever the service said. */
export type BlobErrorKind =
  /** The bucket or container does not exist (a missing key is a miss, never this). */
  | "not-found"
  /** Credentials missing, wrong or not allowed to do this (401, 403). */
  | "denied"
  /** Network trouble, a timeout, throttling or a server error: may succeed if tried again. */
  | "unavailable"
  /** The request or the response is wrong: a body over its bound, a malformed answer, a 4xx that is none of the above. */
  | "invalid";

export class BlobError extends Error {
  constructor(
    readonly kind: BlobErrorKind,
    message: string,
    opts: { cause?: unknown; status?: number; code?: string } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "BlobError";
    this.status = opts.status;
    this.code = opts.code;
  }
  /** The service's HTTP status, when there was a response. */
  readonly status: number | undefined;
  /** The service's own error code ("AccessDenied", "BlobNotFound", ...), when it gave one. */
  readonly code: string | undefined;
}

/**
 * A body over its bound, announced or streamed (or one whose length is not
 * declared where it must be): an "invalid" failure of that one object, not
 * of the store.
 */
export class TooLargeError extends BlobError {
  constructor(message: string) {
    super("invalid", message, { code: "TooLarge" });
  }
}

/** Writing a downloaded body to the local file failed (full disk, read-only directory): not the store's fault. */
export class LocalWriteError extends Error {}

export interface BlobInfo {
  key: string;
  size: number;
  /** Last modification, Unix milliseconds. */
  modifiedMs: number;
}

export interface BlobStore {
  /** For messages: "s3://bucket", "gs://bucket", "az://account/container". */
  readonly name: string;
  /** The key's bytes; undefined when absent. */
  read(key: string, maxBytes: number): Promise<Uint8Array | undefined>;
  /** Streams the key into the file at `path` (truncated first): the byte count; undefined when absent. */
  readToFile(key: string, path: string, maxBytes: number): Promise<number | undefined>;
  /** Writes the key (replacing it unless `ifAbsent`). */
  write(key: string, body: Uint8Array | Blob, opts?: { ifAbsent?: boolean }): Promise<"written" | "exists">;
  /** The key's size and modification time; undefined when absent. */
  head(key: string): Promise<BlobInfo | undefined>;
  /** Every key that starts with `prefix`, in pages, in lexical order. */
  list(prefix: string): AsyncIterable<BlobInfo>;
  /** Removes the key; a key that is already gone is not an error. */
  delete(key: string): Promise<void>;
  /** Releases connections and credential refreshers. */
  close(): void;
}

export interface OpenOptions {
  /** Whole-request bound, body included (default 120 s). */
  timeoutMs?: number;
  /** Where credentials and emulator addresses are read from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Keys per list request (default: the service's maximum); small in tests, to exercise paging. */
  listPageSize?: number;
}

/** What a backend's open function receives: every option resolved. */
export type BackendOptions = Required<OpenOptions>;

/** At most this long, in bytes (every service's limit is at least this). */
export const KEY_MAX = 1024;
const KEY_CHARS = /^[!-~]+$/;
const KEY_BAD = /[\\?#%]/;

/**
 * The keys the port takes (see the top of this file): printable ASCII with
 * no space, `\\`, `?`, `#` or `%`, no empty, `.` or `..` segment (a URL parser
 * would fold those into another key's path), at most KEY_MAX bytes. A
 * prefix may also be empty or end with `/`.
 */
export function isValidKey(key: string, opts: { prefix?: boolean } = {}): boolean {
  if (key.length > KEY_MAX) return false;
  if (opts.prefix && key === "") return true;
  if (!KEY_CHARS.test(key) || KEY_BAD.test(key)) return false;
  const segments = key.split("/");
  if (opts.prefix && segments.at(-1) === "") segments.pop();
  return segments.every((s) => s !== "" && s !== "." && s !== "..");
}

/**
 * A short stable label for a failure ("blob/denied/403"), to warn once per
 * kind: the kind and status only, never text a server chose (a hostile one
 * could make every warning new).
 */
export function failureLabel(err: unknown): string {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as Error).cause, depth++) {
    if (e instanceof BlobError) return ["blob", e.kind, e.status].filter((p) => p !== undefined).join("/");
    if (e instanceof LocalWriteError) return "local/write";
  }
  const e = err as { name?: string; code?: string };
  return [e?.name ?? "Error", e?.code].filter(Boolean).join("/");
}

/** The BlobError in an error's cause chain, if any. */
export function blobErrorOf(err: unknown): BlobError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as Error).cause, depth++) if (e instanceof BlobError) return e;
  return undefined;
}

/** The kind for an HTTP status every backend maps alike (401/403 denied, 408/429/5xx unavailable, other 4xx invalid). */
export function kindOfStatus(status: number): BlobErrorKind {
  if (status === 401 || status === 403) return "denied";
  if (status === 408 || status === 429 || status >= 500) return "unavailable";
  return "invalid";
}
