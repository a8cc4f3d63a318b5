/**
 * Server mode: the plugin protocol on a TCP port (127.0.0.1) or a Unix
 * socket, one Session per connection, all sharing one Cache. A connection's
 * `close` ends that connection only; the cache (and its uploads) live on.
 *
 * Every peer is a stranger until it proves otherwise:
 * - TCP: the peer must pass the token handshake (auth.ts) within
 *   AUTH_TIMEOUT_MS before it gets the capability line; Unix socket: the
 *   socket is 0600, so only this user reaches it.
 * - the reader is strict: a first line that is not a protocol request, or
 *   any later framing error, drops the connection and stores nothing (an
 *   HTTP POST from a web page is never read as puts).
 * - a peer that does not read its answers stops being read (pause at
 *   BACKLOG_HIGH bytes queued, resume at BACKLOG_LOW): memory stays bounded.
 * - a Unix socket connection that sends nothing within FIRST_BYTE_TIMEOUT_MS
 *   of connecting is closed (an authenticated one has no idle limit: a go
 *   command may run tests for hours between requests); at most
 *   `maxConnections` sessions are open, and at most MAX_PENDING_AUTH
 *   handshakes (the oldest evicted); a dropped connection's open put is
 *   aborted (its file and temp file released).
 * - on Linux the capability line offers the pipe hand-over (pipes.ts): a
 *   `connect` may have the session served on the go command's own pipes,
 *   the connection then only carries its lifetime.
 */
import { chmodSync, renameSync } from "node:fs";
import type { SessionSummary } from "../store/session-log.ts";
import type { Socket, TCPSocketListener, UnixSocketListener } from "bun";
import { CAPABILITY_LINE } from "../protocol/messages.ts";
import { RequestReader } from "../protocol/reader.ts";
import { ResponseWriter } from "../protocol/writer.ts";
import { Session, type SessionCounters } from "./session.ts";
import { BufferedSocketWriter } from "./socket-writer.ts";
import { ServerHandshake } from "./auth.ts";
import { PIPES_CAPABILITY, PIPES_MAX_LINE, PIPES_REQUEST, PipeChannel, openClaimedPipes } from "./pipes.ts";
import { clearStaleSocket, removeIfOurs, socketIdentity, type SocketIdentity } from "./socket-path.ts";
import type { Cache } from "../store/store.ts";
import type { Logger } from "../log.ts";
import type { Histogram } from "../metrics.ts";

export type PluginAddress = { port: number; secret: string } | { path: string };

export const AUTH_TIMEOUT_MS = 10_000;
/**
 * Connections still in the handshake, at most: a new one beyond this evicts
 * the oldest (a handshake takes one round trip, so flooding the port with
 * idle connections cannot keep a real client out, nor use up --max-connections).
 */
export const MAX_PENDING_AUTH = 64;
export const FIRST_BYTE_TIMEOUT_MS = 5 * 60_000;
const BACKLOG_HIGH = 1 << 20;
const BACKLOG_LOW = 256 << 10;

export interface PluginServerOptions {
  address: PluginAddress;
  cache: Cache;
  log: Logger;
  counters: SessionCounters;
  getLatency?: Histogram;
  /** Each session's own numbers when it ends (session-log.ts). */
  onSessionEnd?: (s: SessionSummary) => void;
  /** Connections beyond this are closed at once. */
  maxConnections: number;
}

export interface ConnectionCounters { active: number; accepted: number; refused: number; dropped: number; piped: number }

interface Conn {
  out: BufferedSocketWriter;
  auth?: ServerHandshake;
  session?: Session;
  reader?: RequestReader;
  writer?: ResponseWriter;
  timer?: Timer;
  dead: boolean;
  paused: boolean;
  /** The capability line offered the pipe hand-over and the peer's first line is not in yet (what came so far). */
  offer?: string;
  /** The session runs on the go command's pipes (pipes.ts); the socket only carries its lifetime. */
  pipes?: PipeChannel;
}

export class PluginServer {
  readonly connections: ConnectionCounters = { active: 0, accepted: 0, refused: 0, dropped: 0, piped: 0 };
  private listener: TCPSocketListener<Conn> | UnixSocketListener<Conn> | undefined;
  private idle: (() => void) | undefined;
  private readonly endings = new Set<Promise<void>>();
  private readonly open = new Set<Socket<Conn>>();
  /** Open connections still in the handshake, oldest first. */
  private readonly pending = new Set<Socket<Conn>>();
  private socketId: SocketIdentity | undefined;
  private warned = new Set<string>();

  constructor(private readonly opts: PluginServerOptions) {}

  /** Starts listening; throws with the address when it cannot. */
  async listen(): Promise<string> {
    const handlers = {
      open: (s: Socket<Conn>) => this.opened(s),
      data: (s: Socket<Conn>, chunk: Buffer) => this.data(s, chunk),
      drain: (s: Socket<Conn>) => {
        s.data.out.drain();
        if (s.data.paused && s.data.out.backlogBytes <= BACKLOG_LOW) {
          s.data.paused = false;
          s.resume();
        }
      },
      end: (s: Socket<Conn>) => this.inputEnded(s),
      close: (s: Socket<Conn>) => this.closed(s),
      error: (_s: Socket<Conn>, err: Error) => this.opts.log.warn(`connection error: ${err.message}`),
    };
    const a = this.opts.address;
    const where = "port" in a ? `127.0.0.1:${a.port}` : a.path;
    try {
      if ("port" in a) {
        this.listener = Bun.listen<Conn>({ hostname: "127.0.0.1", port: a.port, socket: handlers });
        return `127.0.0.1:${this.listener.port}`;
      }
      await clearStaleSocket(a.path);
      // Bound under a private name, then renamed into place: Bun unlinks the
      // bound name when it stops, and that must never be a path that a later
      // server owns by then (see removeIfOurs).
      const bound = `${a.path}.${crypto.getRandomValues(new Uint8Array(3)).toHex()}`;
      const mask = process.umask(0o177); // born 0600: no window where others may connect
      try {
        this.listener = Bun.listen<Conn>({ unix: bound, socket: handlers });
      } finally {
        process.umask(mask);
      }
      chmodSync(bound, 0o600);
      this.socketId = socketIdentity(bound);
      renameSync(bound, a.path);
      return a.path;
    } catch (err) {
      if ((err as Error).message?.startsWith("[serve]")) throw err;
      throw new Error(`[serve] cannot listen on ${where}`, { cause: err });
    }
  }

  get port(): number | undefined {
    return this.listener && "port" in this.listener ? this.listener.port : undefined;
  }

  /**
   * Stops accepting; resolves when every open connection has finished, or
   * after `deadlineMs`, when the ones still open are closed (their sessions
   * end as if dropped: nothing acknowledged is lost, uploads stay journaled).
   */
  async shutdown(deadlineMs = Infinity): Promise<void> {
    this.listener?.stop(false);
    for (const s of [...this.pending]) s.terminate(); // never admitted: nothing of theirs to finish
    if (this.connections.active > 0) {
      const drained = new Promise<boolean>((resolve) => (this.idle = () => resolve(true)));
      const timer = Number.isFinite(deadlineMs) ? new Promise<boolean>((r) => setTimeout(() => r(false), deadlineMs).unref()) : new Promise<boolean>(() => {});
      if (!(await Promise.race([drained, timer]))) {
        this.opts.log.warn(`${this.connections.active} connections still open after ${deadlineMs / 1000}s; closing them`);
        for (const s of [...this.open, ...this.pending]) s.terminate();
        await drained;
      }
    }
    await Promise.all([...this.endings]);
    if ("path" in this.opts.address) removeIfOurs(this.opts.address.path, this.socketId);
  }

  private opened(socket: Socket<Conn>): void {
    const conn: Conn = { out: new BufferedSocketWriter(socket), dead: false, paused: false };
    socket.data = conn;
    this.connections.accepted++;
    const a = this.opts.address;
    if ("port" in a) {
      if (this.pending.size >= MAX_PENDING_AUTH) {
        const oldest = this.pending.values().next().value!;
        this.warnOnce("pending", `more than ${MAX_PENDING_AUTH} connections in the handshake at once; closing the oldest ones`);
        this.drop(oldest, "evicted: too many connections in the handshake");
      }
      conn.auth = new ServerHandshake(a.secret);
      conn.timer = setTimeout(() => this.drop(socket, `not authenticated within ${AUTH_TIMEOUT_MS / 1000}s`), AUTH_TIMEOUT_MS);
      this.pending.add(socket);
      socket.setNoDelay(true); // small answers must not wait for Nagle
      return;
    }
    this.admit(socket);
  }

  /** Counts a connection against --max-connections (TCP: once authenticated) and starts its session. */
  private admit(socket: Socket<Conn>): void {
    const conn = socket.data;
    if (this.connections.active >= this.opts.maxConnections) {
      this.connections.refused++;
      this.warnOnce("max", `refusing connections beyond ${this.opts.maxConnections} open ones (--max-connections)`);
      conn.dead = true;
      socket.terminate();
      return;
    }
    this.connections.active++;
    this.open.add(socket);
    conn.timer = setTimeout(() => this.drop(socket, `sent nothing for ${FIRST_BYTE_TIMEOUT_MS / 1000}s`), FIRST_BYTE_TIMEOUT_MS);
    this.startSession(socket);
  }

  private data(socket: Socket<Conn>, chunk: Uint8Array): void {
    const conn = socket.data;
    if (conn.dead) return;
    if (conn.auth) {
      const step = conn.auth.feed(chunk);
      if (step.t === "fail") return this.drop(socket, step.reason);
      if (step.send) conn.out.write(Buffer.from(step.send));
      if (step.t === "more") return;
      conn.auth = undefined;
      clearTimeout(conn.timer); // the handshake deadline
      this.pending.delete(socket);
      this.admit(socket);
      if (conn.dead) return;
      chunk = step.rest;
      if (chunk.length === 0) return;
    }
    if (conn.pipes) return this.drop(socket, "data on the connection after the pipe hand-over");
    if (conn.offer !== undefined) {
      const rest = this.answerOffer(socket, chunk);
      if (!rest || rest.length === 0 || conn.pipes || conn.dead) return;
      chunk = rest;
    }
    this.endFirstByteDeadline(conn);
    conn.reader!.push(chunk);
    if (!conn.paused && conn.out.backlogBytes > BACKLOG_HIGH) {
      conn.paused = true; // the peer is not reading its answers: stop reading its requests
      socket.pause();
    }
  }

  /**
   * The peer's first line after a capability line that offered the pipe
   * hand-over: "gcp-pipes ..." is answered (and, when every check passes,
   * the session moves to the pipes); anything else is the first request.
   * Returns the bytes left for the reader, or undefined while the line is incomplete.
   */
  private answerOffer(socket: Socket<Conn>, chunk: Uint8Array): Uint8Array | undefined {
    const conn = socket.data;
    const text = conn.offer! + Buffer.from(chunk).toString("latin1");
    const nl = text.indexOf("\n");
    const asks = "gcp-pipes ".startsWith(text.slice(0, 10)); // so far a prefix of it, or all of it and more
    if (!asks) {
      conn.offer = undefined;
      return Buffer.from(text, "latin1");
    }
    if (nl < 0) {
      if (text.length > PIPES_MAX_LINE) this.drop(socket, "hand-over request too long");
      else conn.offer = text;
      return undefined;
    }
    conn.offer = undefined;
    const m = PIPES_REQUEST.exec(text.slice(0, nl).replace(/\r$/, ""));
    if (!m) {
      this.drop(socket, `malformed hand-over request ${JSON.stringify(text.slice(0, 40))}`);
      return undefined;
    }
    const claim = { pid: Number(m[1]), inIno: Number(m[2]), outIno: Number(m[3]) };
    const tcp = "port" in this.opts.address ? { serverPort: this.port!, clientAddress: socket.remoteAddress, clientPort: socket.remotePort } : undefined;
    let fds;
    try {
      fds = openClaimedPipes(claim, tcp);
    } catch (err) {
      conn.out.write(Buffer.from(`gcp-pipes no ${String((err as Error).message).replace(/[^\x20-\x7e]/g, "?").slice(0, 200)}\n`));
      return Buffer.from(text.slice(nl + 1), "latin1");
    }
    if (nl + 1 < text.length) {
      new PipeChannel(fds).close();
      this.drop(socket, "data after the hand-over request");
      return undefined;
    }
    const pipes = (conn.pipes = new PipeChannel(fds));
    this.connections.piped++;
    conn.out.write(Buffer.from("gcp-pipes ok\n"));
    pipes.write(CAPABILITY_LINE);
    void pipes.pump((data) => this.pipeData(socket, data)).then(() => { if (!conn.dead) this.inputEnded(socket); });
    return undefined;
  }

  /** Input from the go command's pipe (after the hand-over). */
  private pipeData(socket: Socket<Conn>, chunk: Uint8Array): Promise<void> | undefined {
    const conn = socket.data;
    if (conn.dead) return undefined;
    this.endFirstByteDeadline(conn);
    conn.reader!.push(chunk);
    // The go command is not reading its answers: stop reading its requests until it does.
    return conn.pipes!.out.backlogBytes > BACKLOG_HIGH ? conn.pipes!.out.whenBelow(BACKLOG_LOW) : undefined;
  }

  /** The first request (even one that came with the handshake's last line) ends the first-byte deadline. */
  private endFirstByteDeadline(conn: Conn): void {
    if (!conn.timer) return;
    clearTimeout(conn.timer);
    conn.timer = undefined;
  }

  /** The client finished writing (its socket, or after the hand-over the go command's pipe): answer what is left, then end. */
  private inputEnded(socket: Socket<Conn>): void {
    const problem = socket.data.reader?.end();
    if (problem) this.opts.log.warn(`connection: ${problem}`);
    socket.data.writer?.flush();
    this.endAfterFlush(socket);
  }

  /** Closes our side once every answer is out: the pipes first when the session is on them, then the connection (connect exits). */
  private endAfterFlush(socket: Socket<Conn>): void {
    const { pipes, out } = socket.data;
    if (!pipes) return out.afterFlush(() => socket.end());
    pipes.out.afterFlush(() => {
      pipes.close();
      socket.end();
    });
  }

  private startSession(socket: Socket<Conn>): void {
    const conn = socket.data;
    conn.writer = new ResponseWriter((data) => {
      if (conn.dead) return;
      if (conn.pipes) conn.pipes.write(data);
      else conn.out.write(Buffer.from(data));
    });
    const session = new Session({
      cache: this.opts.cache,
      log: this.opts.log,
      counters: this.opts.counters,
      getLatency: this.opts.getLatency,
      onEnd: this.opts.onSessionEnd,
      send: (r) => conn.writer!.send(r),
      onClose: () => {
        conn.writer!.flush();
        this.endAfterFlush(socket);
      },
    });
    conn.session = session;
    conn.reader = new RequestReader({
      request: (r) => session.request(r),
      body: (r) => session.body(r),
      malformed: (m, id) => session.malformed(m, id),
      violation: (m) => this.drop(socket, m),
    }, { strict: true });
    const offer = process.platform === "linux";
    if (offer) conn.offer = "";
    conn.out.write(Buffer.from(offer ? PIPES_CAPABILITY : CAPABILITY_LINE));
  }

  /** Ends a connection at once: nothing more is read from it or answered. */
  private drop(socket: Socket<Conn>, reason: string): void {
    const conn = socket.data;
    if (conn.dead) return;
    this.pending.delete(socket);
    this.connections.dropped++;
    // A flood must not flood the log too.
    if (this.connections.dropped <= 20) this.opts.log.warn(`dropping connection: ${reason}`);
    else if (this.connections.dropped === 21) this.opts.log.warn("dropping more connections; not logging each (see gocache_connections_dropped_total)");
    conn.dead = true;
    conn.reader?.abort();
    conn.pipes?.close();
    socket.terminate();
  }

  private closed(socket: Socket<Conn>): void {
    const conn = socket.data;
    if (conn) clearTimeout(conn.timer);
    this.pending.delete(socket);
    if (!conn || !this.open.delete(socket)) return;
    conn.dead = true;
    conn.reader?.abort(); // a put cut off mid-body releases its file
    conn.out.discard();
    conn.pipes?.close();
    // Uploads and manifests go on in the server; only shutdown waits for them.
    const ending = conn.session?.end();
    if (ending) {
      this.endings.add(ending);
      void ending.finally(() => this.endings.delete(ending));
    }
    this.connections.active--;
    if (this.connections.active === 0) this.idle?.();
  }

  private warnOnce(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.opts.log.warn(message);
  }
}
