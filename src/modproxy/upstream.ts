/**
 * Fetching from the upstream module proxy: a deadline for the response
 * headers and another for the body, a size bound, a Content-Length check (a
 * body shorter or longer than announced is a truncated download), and a few
 * attempts with backoff for network errors, timeouts, truncation and 5xx.
 *
 * Contract: `get` never throws. It answers
 * - `ok` with the bytes, or with the body written to `dest` (the caller's
 *   temporary file; removed again on any failure);
 * - `missing` for an upstream 404/410, with its status and (bounded) text,
 *   so the go command's `,` fallback to the next proxy still works;
 * - `failed` with a one-line reason otherwise; `corrupt` marks downloads
 *   refused for their content (too large, truncated, failed verification).
 */
import { rmSync } from "node:fs";

export interface UpstreamOptions {
  /** Base URL without trailing slash, e.g. https://proxy.golang.org. */
  baseUrl: string;
  maxBytes: number;
  headerTimeoutMs?: number;
  attempts?: number;
  backoffMs?: number;
  /** Called once per HTTP attempt (for the upstreamFetches counter). */
  onAttempt?: () => void;
}

export interface GetOptions {
  /** Write the body here instead of returning it. */
  dest?: string;
  bodyTimeoutMs?: number;
  /** Overrides the size bound for this request. */
  maxBytes?: number;
  /** Checks a complete body in `dest`; a reason refuses it (not retried). */
  verify?: (dest: string) => Promise<string | undefined>;
}

export type Fetched =
  | { kind: "ok"; bytes: Uint8Array; size: number }
  | { kind: "missing"; status: 404 | 410; text: string }
  | { kind: "failed"; reason: string; corrupt: boolean };

class Retryable extends Error {
  constructor(message: string, readonly corrupt = false) { super(message); }
}
class Final extends Error {
  constructor(message: string, readonly corrupt = false) { super(message); }
}

export class Upstream {
  constructor(private readonly opts: UpstreamOptions) {}

  get base(): string {
    return this.opts.baseUrl;
  }

  async get(path: string, o: GetOptions = {}): Promise<Fetched> {
    const attempts = this.opts.attempts ?? 3;
    let last: Retryable | undefined;
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await Bun.sleep((this.opts.backoffMs ?? 250) * 3 ** (i - 1));
      this.opts.onAttempt?.();
      try {
        return await this.once(path, o);
      } catch (err) {
        if (o.dest) rmSync(o.dest, { force: true });
        if (err instanceof Final) return { kind: "failed", reason: err.message, corrupt: err.corrupt };
        last = err instanceof Retryable ? err : new Retryable(describe(err));
      }
    }
    return { kind: "failed", reason: `${last?.message ?? "no attempt"} (after ${attempts} attempts)`, corrupt: last?.corrupt ?? false };
  }

  private async once(path: string, o: GetOptions): Promise<Fetched> {
    const url = `${this.opts.baseUrl}/${path}`;
    const ctl = new AbortController();
    let phase = "response headers";
    let timer = setTimeout(() => ctl.abort(), this.opts.headerTimeoutMs ?? 30_000);
    try {
      const res = await fetch(url, { signal: ctl.signal, redirect: "follow", headers: { "Accept-Encoding": "identity", "User-Agent": "go-cache-plugin-modproxy" } });
      clearTimeout(timer);
      phase = "body";
      timer = setTimeout(() => ctl.abort(), o.bodyTimeoutMs ?? this.opts.headerTimeoutMs ?? 30_000);
      if (res.status === 404 || res.status === 410) {
        const text = new TextDecoder().decode((await readBounded(res, 64 * 1024, undefined, true)).bytes);
        return { kind: "missing", status: res.status, text };
      }
      if (res.status >= 500 || res.status === 429) throw new Retryable(`${url}: upstream answered ${res.status}`);
      if (res.status !== 200) throw new Final(`${url}: upstream answered ${res.status}`);
      const announced = res.headers.get("content-encoding") ? undefined : res.headers.get("content-length");
      const expected = announced == null ? undefined : Number(announced);
      const max = o.maxBytes ?? this.opts.maxBytes;
      if (expected !== undefined && expected > max) throw new Final(`${url}: ${expected} bytes exceeds the ${max}-byte limit`, true);
      const { bytes, size } = await readBounded(res, max, o.dest);
      if (expected !== undefined && size !== expected) throw new Retryable(`${url}: truncated download (${size} of ${expected} bytes)`, true);
      if (o.dest && o.verify) {
        const bad = await o.verify(o.dest);
        if (bad) throw new Final(`${url}: ${bad}`, true);
      }
      return { kind: "ok", bytes, size };
    } catch (err) {
      if (err instanceof Retryable || err instanceof Final) throw err;
      if (ctl.signal.aborted) throw new Retryable(`${url}: timed out waiting for the ${phase}`);
      throw new Retryable(`${url}: ${describe(err)}`, phase === "body");
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Reads a body up to `max` bytes, into memory or into `dest`. Over the bound is Final unless `cut`. */
async function readBounded(res: Response, max: number, dest?: string, cut = false): Promise<{ bytes: Uint8Array; size: number }> {
  const chunks: Uint8Array[] = [];
  const sink = dest ? Bun.file(dest).writer({ highWaterMark: 1 << 20 }) : undefined;
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      size += chunk.length;
      if (size > max) {
        if (cut) break;
        throw new Final(`${res.url}: body exceeds the ${max}-byte limit`, true);
      }
      if (sink) sink.write(chunk);
      else chunks.push(chunk);
    }
  } finally {
    await sink?.end();
  }
  return { bytes: sink ? new Uint8Array(0) : Buffer.concat(chunks), size };
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
}
