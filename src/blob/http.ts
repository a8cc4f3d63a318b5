/**
 * HTTP helpers every backend shares: bounded bodies, streaming a body to a
 * file, and turning a network failure into a BlobError. Nothing here knows
 * a service.
 */
import { closeSync, openSync } from "node:fs";
import { BlobError, LocalWriteError, TooLargeError } from "./port.ts";

/** Reads a body of at most `max` bytes, stopping (and failing, kind "invalid") as soon as it is longer. */
export async function boundedBody(res: Response, max: number, what: string): Promise<Uint8Array> {
  const announced = Number(res.headers.get("content-length") ?? NaN);
  if (announced > max) {
    void res.body?.cancel().catch(() => {});
    throw new TooLargeError(`${what}: ${announced} bytes, more than the ${max} allowed`);
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch (err) {
      throw new BlobError("unavailable", `${what}: the body broke off after ${total} bytes`, { cause: err });
    }
    if (chunk.done) break;
    total += chunk.value.length;
    if (total > max) {
      void reader.cancel().catch(() => {});
      throw new TooLargeError(`${what}: more than the ${max} bytes allowed`);
    }
    parts.push(chunk.value);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** File-system errors: the local disk failed, not the store. */
const LOCAL_ERRNOS = new Set(["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EIO", "EISDIR", "ENOENT", "ENOTDIR", "EFBIG", "EMFILE", "ENFILE"]);

/**
 * Writes a 200 response's body to `path` as it arrives (no buffer the size
 * of the object): the byte count. The body must declare a length of at most
 * `max` (an unbounded body is never streamed to disk) and deliver exactly it.
 */
export async function bodyToFile(res: Response, path: string, max: number, what: string): Promise<number> {
  const declared = res.headers.get("content-length");
  const announced = declared === null ? NaN : Number(declared);
  const encoding = res.headers.get("content-encoding");
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity") {
    // fetch decompresses it, and Bun.write would write every decompressed byte: Content-Length bounds only the compressed ones (a bomb).
    void res.body?.cancel().catch(() => {});
    throw new BlobError("invalid", `${what}: a body with Content-Encoding ${encoding.slice(0, 40)} is not streamed to disk (its length bounds only the compressed bytes)`);
  }
  if (!(announced <= max)) {
    void res.body?.cancel().catch(() => {});
    throw new TooLargeError(declared === null ? `${what}: no Content-Length (an unbounded body is not streamed to disk)` : `${what}: ${declared} bytes, more than the ${max} allowed`);
  }
  // Counted as it is written, whatever the framing says: a body sent chunked
  // beside a small Content-Length must not reach the disk past that length.
  const local = (err: unknown) => new LocalWriteError(`write ${path}`, { cause: err });
  try {
    closeSync(openSync(path, "w")); // created or truncated here, where a failure is plainly the disk's
  } catch (err) {
    void res.body?.cancel().catch(() => {});
    throw local(err);
  }
  const sink = Bun.file(path).writer({ highWaterMark: 1 << 20 });
  let n = 0;
  let failed = false;
  try {
    const reader = res.body?.getReader();
    for (;;) {
      let chunk: { done: boolean; value?: Uint8Array };
      try {
        chunk = reader ? await reader.read() : { done: true };
      } catch (err) {
        throw new BlobError("unavailable", `${what}: the body broke off after ${n} bytes`, { cause: err });
      }
      if (chunk.done) break;
      n += chunk.value!.length;
      if (n > announced) {
        void reader!.cancel().catch(() => {});
        throw new TooLargeError(`${what}: more than the ${announced} bytes announced`);
      }
      try {
        const pending = sink.write(chunk.value!);
        if (pending instanceof Promise) await pending;
      } catch (err) {
        void reader!.cancel().catch(() => {});
        throw local(err);
      }
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    try {
      await sink.end();
    } catch (err) {
      // A write that failed at flush (full disk) is the disk's, unless the body had already failed.
      if (!failed) throw local(err);
    }
  }
  if (n !== announced) throw new BlobError("unavailable", `${what}: ${n} of ${announced} bytes arrived`);
  return n;
}

/**
 * fetch() that never follows a redirect, never decompresses, and turns a
 * failure to get any response (refused, reset, timed out) into a BlobError
 * of kind "unavailable".
 */
export async function request(url: string | URL, init: RequestInit & { timeoutMs: number }, what: string): Promise<Response> {
  const { timeoutMs, ...rest } = init;
  try {
    // Bun's fetch inflates a Content-Encoding body by default: the bytes would
    // no longer be the ones Content-Length bounds (a small gzip bomb fills the disk).
    const bounded = { ...rest, redirect: "manual", signal: AbortSignal.timeout(timeoutMs), decompress: false } as RequestInit;
    return await fetch(url, bounded);
  } catch (err) {
    // Not the runtime's error itself: it carries the whole URL (a presigned one holds a signature and a session token).
    const e = err as { name?: string; code?: string; message?: string };
    const message = String(e?.message ?? err).replace(/\?\S*/g, "?…").slice(0, 300);
    throw new BlobError("unavailable", `${what}: ${message}`, { cause: Object.assign(new Error(message), { name: e?.name, code: e?.code }) });
  }
}

/** Bound on a drained body: past it, dropping the connection is cheaper than reading on (and an endless body cannot fill memory). */
const DRAIN_MAX = 64 << 10;

/** This machine: the only place a credential may go over plain http (an emulator, a test). */
export const isLoopbackHost = (hostname: string) => /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(hostname);

/** Drains a response whose body is not needed, so its connection can be reused; a body over 64 KiB is cancelled instead. */
export function drain(res: Response): Promise<void> {
  return boundedBody(res, DRAIN_MAX, "drain").then(() => {}, () => {});
}
