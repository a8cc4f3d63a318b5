/**
 * Direct mode: one session over stdin/stdout.
 *
 * Output goes through writeSync on fd 1 (not Bun.stdout's writer, which
 * holds a duplicate of the descriptor) so that closing fd 1 after the close
 * reply really ends the go command's wait: it blocks until our stdout reaches
 * end-of-file, and whatever we still do afterwards (uploads, trimming) no
 * longer delays the build.
 */
import { closeSync, writeSync } from "node:fs";
import type { SessionSummary } from "../store/session-log.ts";
import { CAPABILITY_LINE } from "../protocol/messages.ts";
import { RequestReader } from "../protocol/reader.ts";
import { ResponseWriter } from "../protocol/writer.ts";
import { Session, type SessionCounters } from "./session.ts";
import type { Cache } from "../store/store.ts";
import type { Logger } from "../log.ts";

const STDOUT = 1;
const wait = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `data` to a descriptor, riding out partial writes and EAGAIN. */
export function writeAll(fd: number, data: string | Uint8Array): void {
  if (typeof data === "string") {
    // The common case, a short reply into a pipe with room, costs no copy.
    try {
      const n = writeSync(fd, data);
      if (n === Buffer.byteLength(data)) return;
      data = Buffer.from(data).subarray(n);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      data = Buffer.from(data);
    }
  }
  let buf = data;
  while (buf.length > 0) {
    try {
      const n = writeSync(fd, buf);
      buf = buf.subarray(n);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      Atomics.wait(wait, 0, 0, 1);
    }
  }
}

/** Sends the capability message; call first thing, before any slow set-up. */
export function announce(): void {
  writeAll(STDOUT, CAPABILITY_LINE);
}

export interface StdioOptions {
  cache: Cache;
  log: Logger;
  counters: SessionCounters;
  /** The session's own numbers when it ends (session-log.ts). */
  onEnd?: (s: SessionSummary) => void;
}

/**
 * Serves requests from stdin until close or end of input. Returns the exit
 * code: 0 after close or a clean end of input, 1 when input ended inside a
 * put body or stdout broke.
 */
export async function serveStdio(opts: StdioOptions): Promise<number> {
  let outputBroken = false;
  const writer = new ResponseWriter((data) => {
    if (outputBroken) return;
    try {
      writeAll(STDOUT, data);
    } catch (err) {
      outputBroken = true;
      opts.log.warn(`cannot write responses to stdout: ${(err as Error).message}`);
    }
  });
  let closed!: () => void;
  const closedPromise = new Promise<"close">((resolve) => (closed = () => resolve("close")));
  const session = new Session({ cache: opts.cache, log: opts.log, counters: opts.counters, send: (r) => writer.send(r), onClose: () => closed(), onEnd: opts.onEnd });
  const reader = new RequestReader(session);

  const input = Bun.stdin.stream().getReader();
  const readLoop = (async () => {
    for (;;) {
      const { done, value } = await input.read();
      if (done) return reader.end();
      reader.push(value);
      if (session.isClosed) {
        await closedPromise; // the close reply may wait for earlier answers
        return undefined;
      }
    }
  })();

  const outcome = await Promise.race([closedPromise, readLoop.then((err) => ({ err }))]);
  if (session.isClosed) await closedPromise;
  writer.flush();
  if (outcome === "close" || session.isClosed) {
    try { closeSync(STDOUT); } catch { /* already closed */ }
    void input.cancel().catch(() => {});
    await session.end(); // the go command is already done: manifests, prefetch bookkeeping
    return outputBroken ? 1 : 0;
  }
  await session.end();
  if (outcome.err) {
    opts.log.warn(`${outcome.err}; exiting`);
    return 1;
  }
  opts.log.info("input ended without a close request");
  return outputBroken ? 1 : 0;
}
