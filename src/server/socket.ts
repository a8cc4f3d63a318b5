/**
 * Server mode: the plugin protocol on a TCP port (127.0.0.1) or a Unix
 * socket, one Session per connection, all sharing one Cache. A connection's
 * `close` ends that connection only; the cache (and its uploads) live on.
 */
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import type { Socket, TCPSocketListener, UnixSocketListener } from "bun";
import { CAPABILITY_LINE } from "../protocol/messages.ts";
import { RequestReader } from "../protocol/reader.ts";
import { ResponseWriter } from "../protocol/writer.ts";
import { Session, type SessionCounters } from "./session.ts";
import { BufferedSocketWriter } from "./socket-writer.ts";
import type { Cache } from "../store/store.ts";
import type { Logger } from "../log.ts";
import type { Histogram } from "../metrics.ts";

export type PluginAddress = { port: number } | { path: string };

export interface PluginServerOptions {
  address: PluginAddress;
  cache: Cache;
  log: Logger;
  counters: SessionCounters;
  getLatency?: Histogram;
}

export interface ConnectionCounters { active: number; accepted: number }

interface Conn {
  session: Session;
  reader: RequestReader;
  writer: ResponseWriter;
  out: BufferedSocketWriter;
}

export class PluginServer {
  readonly connections: ConnectionCounters = { active: 0, accepted: 0 };
  private listener: TCPSocketListener<Conn> | UnixSocketListener<Conn> | undefined;
  private idle: (() => void) | undefined;
  private readonly endings = new Set<Promise<void>>();

  constructor(private readonly opts: PluginServerOptions) {}

  /** Starts listening; throws with the address when it cannot. */
  listen(): string {
    const handlers = {
      open: (s: Socket<Conn>) => this.open(s),
      data: (s: Socket<Conn>, chunk: Buffer) => s.data.reader.push(chunk),
      drain: (s: Socket<Conn>) => s.data.out.drain(),
      end: (s: Socket<Conn>) => {
        // The client finished writing: answer what is left, then close our side.
        const problem = s.data.reader.end();
        if (problem) this.opts.log.warn(`connection: ${problem}`);
        s.data.writer.flush();
        s.data.out.afterFlush(() => s.end());
      },
      close: (s: Socket<Conn>) => {
        // Uploads and manifests go on in the server; only shutdown waits for them.
        const ending = s.data?.session.end();
        if (ending) {
          this.endings.add(ending);
          void ending.finally(() => this.endings.delete(ending));
        }
        this.closed();
      },
      error: (_s: Socket<Conn>, err: Error) => this.opts.log.warn(`connection error: ${err.message}`),
    };
    const a = this.opts.address;
    try {
      if ("port" in a) {
        this.listener = Bun.listen<Conn>({ hostname: "127.0.0.1", port: a.port, socket: handlers });
        return `127.0.0.1:${this.listener.port}`;
      }
      if (existsSync(a.path)) unlinkSync(a.path); // a stale socket from an earlier server
      const mask = process.umask(0o177); // born 0600: no window where others may connect
      try {
        this.listener = Bun.listen<Conn>({ unix: a.path, socket: handlers });
      } finally {
        process.umask(mask);
      }
      chmodSync(a.path, 0o600);
      return a.path;
    } catch (err) {
      throw new Error(`cannot listen on ${"port" in a ? `127.0.0.1:${a.port}` : a.path}`, { cause: err });
    }
  }

  get port(): number | undefined {
    return this.listener && "port" in this.listener ? this.listener.port : undefined;
  }

  /** Stops accepting; resolves when every open connection has finished. */
  async shutdown(): Promise<void> {
    this.listener?.stop(false);
    if (this.connections.active > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await Promise.all([...this.endings]);
    if ("path" in this.opts.address) try { unlinkSync(this.opts.address.path); } catch { /* gone */ }
  }

  private open(socket: Socket<Conn>): void {
    this.connections.active++;
    this.connections.accepted++;
    if ("port" in this.opts.address) socket.setNoDelay(true); // small answers must not wait for Nagle
    const conn = { out: new BufferedSocketWriter(socket) } as Conn;
    conn.writer = new ResponseWriter((data) => conn.out.write(Buffer.from(data)));
    const session = new Session({
      cache: this.opts.cache,
      log: this.opts.log,
      counters: this.opts.counters,
      getLatency: this.opts.getLatency,
      send: (r) => conn.writer.send(r),
      onClose: () => {
        conn.writer.flush();
        conn.out.afterFlush(() => socket.end());
      },
    });
    conn.session = session;
    conn.reader = new RequestReader(session);
    socket.data = conn;
    conn.out.write(Buffer.from(CAPABILITY_LINE));
  }

  private closed(): void {
    this.connections.active--;
    if (this.connections.active === 0) this.idle?.();
  }
}
