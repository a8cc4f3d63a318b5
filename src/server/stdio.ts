/**
 * Direct mode: one session over stdin/stdout.
 *
 * Output goes through writeSync on fd 1 (not Bun.stdout's writer, which
 * holds a duplicate of the descriptor) so that closing fd 1 after the close
 * reply really ends the go command's wait: it blocks until our stdout reaches
 * end-of-file, and whatever we still do afterwards (uploads, trimming) no
 * longer delays the build.
 */
import { closeSync, readSync, writeSync } from "node:fs";
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
 *
 * Input is read with blocking reads while every answer is synchronous (a
 * local hit, miss or put) and the cache has nothing on the event loop: one
 * read(2) per request, no poll, promise or stream in between. The first
 * answer that waits on a promise, or a cache that starts event-loop work (a
 * remote worker), switches the session to the event loop for good.
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

  const blocking = readBlocking(reader, session, writer, opts.cache);
  let outcome: "close" | { err: string | undefined };
  if (blocking === "close") outcome = "close";
  else if (blocking === "eof") outcome = { err: reader.end() };
  else {
    opts.log.debug("reading requests on the event loop from now on (an answer or the cache needs it)");
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
    outcome = await Promise.race([closedPromise, readLoop.then((err) => ({ err }))]);
    if (outcome === "close" || session.isClosed) void input.cancel().catch(() => {});
  }
  if (session.isClosed) await closedPromise;
  writer.flush();
  if (outcome === "close" || session.isClosed) {
    try { closeSync(STDOUT); } catch { /* already closed */ }
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

const STDIN = 0;

/**
 * The blocking phase of serveStdio: reads and answers until close ("close"),
 * end of input ("eof"), or until an answer or the cache needs the event
 * loop ("async"; nothing read is lost: the reader holds any partial line).
 */
function readBlocking(reader: RequestReader, session: Session, writer: ResponseWriter, cache: Cache): "close" | "eof" | "async" {
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    if (session.hasPending || cache.usesEventLoop?.()) return "async";
    let n: number;
    try {
      n = readSync(STDIN, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EINTR") continue;
      if (code === "EAGAIN") return "async"; // a non-blocking descriptor: poll it on the event loop
      throw err;
    }
    if (n === 0) return "eof";
    reader.push(buf.subarray(0, n)); // the reader copies what it keeps
    writer.flush();
    if (session.isClosed) return "close";
  }
}
