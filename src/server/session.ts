/**
 * One protocol session: the go command's requests in, responses out.
 *
 * Contracts with the go command (cmd/go/internal/cache/prog.go):
 * - every request gets exactly one response carrying its ID, in any order;
 * - get: a hit carries OutputID, Size, Time and an absolute DiskPath that
 *   stays valid until close; a miss is `Miss: true`; a tier failure is a miss
 *   too (logged), never an Err, so the build goes on;
 * - put: answered once the body is verified and stored; a bad body is an Err
 *   and nothing is stored;
 * - close: answered after every earlier request has been answered.
 */
import { formatTime, hexToId, idToHex, type Request, type Response } from "../protocol/messages.ts";
import type { Command } from "../protocol/commands.ts";
import type { BodySink, RequestHandler } from "../protocol/reader.ts";
import type { Cache, Entry, PutSink, SessionHandle } from "../store/store.ts";
import { describeError, type Logger } from "../log.ts";
import type { Histogram } from "../metrics.ts";
import type { SessionSummary } from "../store/session-log.ts";

/** Counters of one session (summed into the process metrics). */
export interface SessionCounters {
  gets: number;
  hits: number;
  misses: number;
  puts: number;
  /** Put body bytes received. */
  bytesIn: number;
  /** Bytes of outputs handed out by hits. */
  bytesOut: number;
  /** Requests answered with Err, malformed lines included. */
  errors: number;
}

export function newSessionCounters(): SessionCounters {
  return { gets: 0, hits: 0, misses: 0, puts: 0, bytesIn: 0, bytesOut: 0, errors: 0 };
}

export interface SessionOptions {
  cache: Cache;
  /** Get latency, when someone reports it (serve mode). */
  getLatency?: Histogram;
  send: (res: Response) => void;
  log: Logger;
  counters: SessionCounters;
  /** Called once, after the close response was sent. */
  onClose?: () => void;
  /** Called once when the session ends, with its own numbers (session-log.ts). */
  onEnd?: (s: SessionSummary) => void;
}

export class Session implements RequestHandler {
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;
  private readonly handle: SessionHandle | undefined;
  private ended: Promise<void> | undefined;
  private readonly started = Date.now();
  /** This session's own numbers (the counters above may be shared by every session of a server). */
  private readonly mine = { gets: 0, hits: 0, misses: 0, puts: 0, bytesOut: 0, built: 0, buildMs: 0 };
  /** When each missed action was asked for: a put of it afterwards is an action the go command ran. */
  private readonly missedAt = new Map<string, number>();
  /** One handler per announced command (protocol/commands.ts): the type makes both lists one. */
  private readonly handlers: Readonly<Record<Command, (req: Request) => void>> = {
    get: (req) => this.get(req),
    put: (req) => {
      const sink = this.openPut(req);
      if (sink) this.finishPut(req, sink);
    },
    close: (req) => this.close(req),
  };

  constructor(private readonly opts: SessionOptions) {
    this.handle = opts.cache.openSession?.();
  }

  /**
   * The connection is gone (after close, or dropped): lets the cache finish
   * the session's bookkeeping (manifest, prefetch). Idempotent; never delays
   * an answer to the go command.
   */
  end(): Promise<void> {
    if (!this.ended && this.opts.onEnd) this.opts.onEnd({ end: Date.now(), ms: Date.now() - this.started, ...this.mine });
    this.ended ??= this.handle && this.opts.cache.closeSession
      ? this.opts.cache.closeSession(this.handle, this.closed).catch((err) => this.opts.log.warn(`ending session: ${describeError(err)}`))
      : Promise.resolve();
    return this.ended;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True while some answer waits on a promise (a remote read, an asynchronous commit). */
  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  request(req: Request): void {
    if (this.closed) return this.fail(req.ID, `${req.Command} after close`);
    const handler = Object.hasOwn(this.handlers, req.Command) ? this.handlers[req.Command as Command] : undefined;
    if (!handler) return this.fail(req.ID, `unknown command ${JSON.stringify(req.Command)}`);
    handler(req);
  }

  body(req: Request): BodySink {
    const sink = this.closed ? this.fail(req.ID, "put after close") : this.openPut(req);
    if (!sink) return { write() {}, end() {} }; // already answered: discard the body
    return {
      write: (bytes) => {
        this.opts.counters.bytesIn += bytes.length;
        sink.write(bytes);
      },
      end: (error) => {
        if (error) {
          sink.abort();
          this.fail(req.ID, `put: ${error}`);
        } else this.finishPut(req, sink);
      },
    };
  }

  malformed(message: string, id?: number): void {
    if (id !== undefined) this.fail(id, message);
    else {
      this.opts.counters.errors++;
      this.opts.log.warn(message);
    }
  }

  private get(req: Request): void {
    const c = this.opts.counters;
    c.gets++;
    let actionId: string;
    try {
      actionId = idToHex(req.ActionID, "ActionID");
    } catch (err) {
      return this.fail(req.ID, `get: ${describeError(err)}`);
    }
    const started = this.opts.getLatency ? performance.now() : 0;
    let result: Entry | undefined | Promise<Entry | undefined>;
    try {
      result = this.opts.cache.get(actionId, this.handle);
    } catch (err) {
      result = undefined;
      this.opts.log.warn(`get ${actionId} failed, answering a miss: ${describeError(err)}`);
    }
    if (result instanceof Promise) {
      this.track(result.then(
        (entry) => this.answerGet(req.ID, actionId, entry, started),
        (err) => {
          this.opts.log.warn(`get ${actionId} failed, answering a miss: ${describeError(err)}`);
          this.answerGet(req.ID, actionId, undefined, started);
        },
      ));
    } else this.answerGet(req.ID, actionId, result, started);
  }

  private answerGet(id: number, actionId: string, entry: Entry | undefined, started: number): void {
    const c = this.opts.counters;
    this.opts.getLatency?.observe((performance.now() - started) / 1000);
    this.mine.gets++;
    if (!entry) {
      c.misses++;
      this.mine.misses++;
      if (this.missedAt.size < 100_000) this.missedAt.set(actionId, performance.now());
      this.opts.log.debug(`get ${actionId}: miss`);
      return this.opts.send({ ID: id, Miss: true });
    }
    c.hits++;
    c.bytesOut += entry.size;
    this.mine.hits++;
    this.mine.bytesOut += entry.size;
    this.opts.log.debug(`get ${actionId}: hit ${entry.outputId} (${entry.size} bytes)`);
    this.opts.send({
      ID: id,
      OutputID: hexToId(entry.outputId),
      Size: entry.size,
      Time: formatTime(entry.timeNanos),
      DiskPath: entry.diskPath,
    });
  }

  /** Validates a put and opens its sink; on a bad request answers Err and returns undefined. */
  private openPut(req: Request): PutSink | undefined {
    try {
      const actionId = idToHex(req.ActionID, "ActionID");
      const outputId = idToHex(req.OutputID ?? req.ObjectID, "OutputID");
      const size = req.BodySize ?? 0;
      if (!Number.isSafeInteger(size) || size < 0) throw new Error(`bad BodySize ${JSON.stringify(req.BodySize)}`);
      return this.opts.cache.put({ actionId, outputId, size }, this.handle);
    } catch (err) {
      this.fail(req.ID, `put: ${describeError(err)}`);
      return undefined;
    }
  }

  private finishPut(req: Request, sink: PutSink): void {
    const done = (entry: Entry) => {
      this.opts.counters.puts++;
      this.mine.puts++;
      const actionId = this.missedAt.size > 0 && req.ActionID ? idToHex(req.ActionID, "ActionID") : "";
      const missed = this.missedAt.get(actionId);
      if (missed !== undefined) {
        this.missedAt.delete(actionId);
        this.mine.built++;
        this.mine.buildMs += performance.now() - missed;
      }
      this.opts.log.debug(`put ${req.ActionID ? idToHex(req.ActionID, "ActionID") : "?"}: ${entry.outputId} (${entry.size} bytes)`);
      this.opts.send({ ID: req.ID, DiskPath: entry.diskPath });
    };
    const failed = (err: unknown) => this.fail(req.ID, `put: ${describeError(err)}`);
    try {
      const result = sink.commit();
      if (result instanceof Promise) this.track(result.then(done, failed));
      else done(result);
    } catch (err) {
      failed(err);
    }
  }

  private close(req: Request): void {
    this.closed = true;
    const reply = () => {
      this.opts.send({ ID: req.ID });
      this.opts.onClose?.();
    };
    if (this.pending.size === 0) return reply();
    void Promise.allSettled([...this.pending]).then(reply);
  }

  private fail(id: number, message: string): undefined {
    this.opts.counters.errors++;
    this.opts.log.warn(`request ${id}: ${message}`);
    this.opts.send({ ID: id, Err: message });
    return undefined;
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}
