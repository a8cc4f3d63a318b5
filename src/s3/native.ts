/**
 * Reads and writes bucket keys with Bun's own request signing and fetch
 * instead of the SDK. The SDK's per-request cost dominated both a fresh
 * runner (reads) and a cold build (three writes per entry, competing with
 * the compiler for the CPU): fetching the 1052 outputs (167 MB) of `go build
 * std` from a loopback S3 server took 1.2 s wall and 1.7 s CPU through the
 * SDK, 0.3 s wall and 0.35 s CPU this way.
 *
 * Credentials still come from the SDK's default provider chain: the caller
 * passes a provider (the SDK client's caches and refreshes them); a new
 * signing client is made whenever they change.
 */
import { isNotFound } from "./errors.ts";

/**
 * Reads one key: its bytes, undefined when the key does not exist; throws on
 * any failure, including a body longer than `maxBytes` (announced or
 * actual: the read stops there, a hostile store cannot fill memory).
 */
export type KeyReader = (key: string, maxBytes: number) => Promise<Uint8Array | undefined>;
/**
 * Streams one key's bytes into the file at `path` (truncated first): their
 * count, or undefined when the key does not exist; throws on any failure,
 * including a body that does not announce a length of at most `maxBytes`.
 * A failure to write the file is a FileWriteError (the disk, not the store).
 */
export type KeyFileReader = (key: string, path: string, maxBytes: number) => Promise<number | undefined>;
/** Writes one key; with ifNoneMatch, fails with a 412 error when the key exists. A Blob body (a file) is streamed. */
export type KeyWriter = (key: string, body: Uint8Array | Blob, opts?: { ifNoneMatch?: boolean }) => Promise<void>;

/** Writing a downloaded body to local disk failed (full disk, read-only directory): not the store's fault. */
export class FileWriteError extends Error {}

/** A body over its bound. */
export class TooLargeError extends Error {}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface NativeOptions {
  bucket: string;
  region: string;
  /** S3-compatible endpoint; AWS when absent. */
  endpoint?: string;
  pathStyle: boolean;
  credentials: () => Promise<S3Credentials>;
  /** Whole-request bound, body included. */
  timeoutMs: number;
}

/** How long a signed URL stays valid: only as long as one request can take. */
const PRESIGN_SECONDS = 15 * 60;

/** A failed request, shaped like the SDK's errors so that isNotFound and errorKind treat both alike. */
export class S3RequestError extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(readonly code: string, status: number, message: string) {
    super(`HTTP ${status} ${code}${message ? `: ${message}` : ""}`);
    this.name = "S3Error";
    this.$metadata = { httpStatusCode: status };
  }
}

/** One signer for reads and writes: a Bun S3 client for the current credentials. */
function signerFor(opts: NativeOptions): () => Promise<Bun.S3Client> {
  let client: Bun.S3Client | undefined;
  let identity = "";
  return async () => {
    const c = await opts.credentials();
    const id = `${c.accessKeyId}\n${c.secretAccessKey}\n${c.sessionToken ?? ""}`;
    if (!client || id !== identity) {
      client = new Bun.S3Client({
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
        sessionToken: c.sessionToken,
        bucket: opts.bucket,
        region: opts.region,
        endpoint: opts.endpoint,
        virtualHostedStyle: !opts.pathStyle,
      });
      identity = id;
    }
    return client;
  };
}

/** The error for a response that is not a success, from S3's XML error body. */
async function failure(res: Response): Promise<S3RequestError> {
  const text = await res.text().catch(() => "");
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? "";
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? "";
  return new S3RequestError(code || res.statusText || "Error", res.status, message);
}

export function nativeIO(opts: NativeOptions): { read: KeyReader; readToFile: KeyFileReader; write: KeyWriter } {
  const signer = signerFor(opts);
  /** The response of a GET of `key` when it is a 200; undefined for a missing key; throws otherwise. */
  const get = async (key: string, maxBytes: number): Promise<Response | undefined> => {
    const url = (await signer()).presign(key, { method: "GET", expiresIn: PRESIGN_SECONDS });
    // A redirect could point anywhere (another host, a metadata address): never followed.
    const res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), redirect: "manual" });
    if (res.status === 200) {
      const announced = Number(res.headers.get("content-length") ?? NaN);
      if (announced > maxBytes) {
        void res.body?.cancel().catch(() => {});
        throw new TooLargeError(`${key}: ${announced} bytes, more than the ${maxBytes} allowed`);
      }
      return res;
    }
    const err = await failure(res);
    if (isNotFound(err)) return undefined; // a missing key; a missing bucket is a failure
    throw err;
  };
  return {
    async read(key, maxBytes) {
      const res = await get(key, maxBytes);
      return res && (await boundedBytes(res, maxBytes, key));
    },
    // Bun writes the body to the file as it arrives: no buffer the size of
    // the object, about a fifth less CPU than read + write for large ones.
    async readToFile(key, path, maxBytes) {
      const res = await get(key, maxBytes);
      if (!res) return undefined;
      if (res.headers.get("content-length") === null) {
        void res.body?.cancel().catch(() => {});
        throw new TooLargeError(`${key}: no Content-Length (an unbounded body is not streamed to disk)`);
      }
      let n: number;
      try {
        n = await Bun.write(path, res);
      } catch (err) {
        throw new FileWriteError(`write ${path}`, { cause: err });
      }
      return n;
    },
    async write(key, body, o = {}) {
      const url = (await signer()).presign(key, { method: "PUT", expiresIn: PRESIGN_SECONDS });
      const res = await fetch(url, {
        method: "PUT",
        body,
        headers: o.ifNoneMatch ? { "If-None-Match": "*" } : {},
        signal: AbortSignal.timeout(opts.timeoutMs),
        redirect: "manual",
      });
      if (res.status === 200 || res.status === 201 || res.status === 204) {
        await res.arrayBuffer().catch(() => {}); // release the connection
        return;
      }
      throw await failure(res);
    },
  };
}

/** Reads a body of at most `max` bytes, stopping (and failing) as soon as it is longer. */
async function boundedBytes(res: Response, max: number, key: string): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      void reader.cancel().catch(() => {});
      throw new TooLargeError(`${key}: more than the ${max} bytes allowed`);
    }
    parts.push(value);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
