/**
 * A TCP proxy that adds a fixed delay to every read from the client before
 * forwarding it upstream, so each request/response exchange costs `delayMs`
 * more, like a distant S3 endpoint. Order within a connection is kept. With
 * `bitsPerSecond`, each direction is also one shared link of that capacity
 * (all connections together), like a runner's network.
 */
import type { Socket } from "bun";

export interface LatencyProxy {
  port: number;
  endpoint: string;
  delayMs: number;
  /** Bytes that crossed the link from the server to the client. */
  bytesDown: number;
  stop(): void;
}

/**
 * One direction of a link of fixed capacity: when each chunk may go, in
 * order, across all connections. One queue and one timer: a timer per piece
 * would reorder them (timers round their delays, so a later piece with a
 * shorter delay can fire first, which scrambles a body).
 */
class Link {
  private freeAt = 0;
  private readonly queue: Array<{ at: number; send: () => void }> = [];
  private timer: Timer | undefined;
  constructor(private readonly bitsPerSecond: number) {}
  /** Runs `send` once `bytes` have had their time on the link, after every piece scheduled before it. */
  schedule(bytes: number, send: () => void): void {
    if (!Number.isFinite(this.bitsPerSecond)) return send();
    const now = performance.now();
    this.freeAt = Math.max(now, this.freeAt) + (bytes * 8 * 1000) / this.bitsPerSecond;
    if (this.queue.length === 0 && this.freeAt - now < 1) return send();
    this.queue.push({ at: this.freeAt, send });
    this.arm();
  }
  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = performance.now();
      while (this.queue.length > 0 && this.queue[0]!.at <= now + 0.5) this.queue.shift()!.send();
      this.arm();
    }, Math.max(0, this.queue[0]!.at - performance.now()));
  }
}

/** Pieces small enough that a large body does not hold the link in one step. */
const PIECE = 16 << 10;

interface Pair {
  upstream?: Socket<Pair>;
  client: Socket<Pair>;
  toUpstream: Buffer[];
  toClient: Buffer[];
  closed: boolean;
  /** The server closed its side: end the client once everything it sent has been passed on. */
  upstreamDone: boolean;
  /** Pieces from the server still waiting for their time on the link. */
  scheduled: number;
}

/** Passes queued bytes to the client; ends it when the server is done and nothing is left (ending earlier cut bodies short). */
function toClient(pair: Pair): void {
  pump(pair.client, pair.toClient);
  if (pair.upstreamDone && pair.scheduled === 0 && pair.toClient.length === 0) pair.client.end();
}

function pump(sock: Socket<Pair> | undefined, queue: Buffer[]): void {
  if (!sock) return;
  while (queue.length > 0) {
    const b = queue[0]!;
    const n = sock.write(b);
    if (n < b.length) {
      queue[0] = b.subarray(Math.max(n, 0));
      return;
    }
    queue.shift();
  }
}

export function startLatencyProxy(target: { hostname: string; port: number }, delayMs: number, opts: { bitsPerSecond?: number } = {}): LatencyProxy {
  const proxy: LatencyProxy = { port: 0, endpoint: "", delayMs, bytesDown: 0, stop: () => listener.stop(true) };
  const down = new Link(opts.bitsPerSecond ?? Infinity);
  const up = new Link(opts.bitsPerSecond ?? Infinity);
  const listener = Bun.listen<Pair>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const pair: Pair = { client, toUpstream: [], toClient: [], closed: false, upstreamDone: false, scheduled: 0 };
        client.data = pair;
        void Bun.connect<Pair>({
          ...target,
          data: pair,
          socket: {
            open(up) { pair.upstream = up; up.data = pair; pump(up, pair.toUpstream); },
            data(_up, chunk) {
              const copy = Buffer.from(chunk);
              proxy.bytesDown += copy.length;
              for (let at = 0; at < copy.length; at += PIECE) {
                const piece = copy.subarray(at, at + PIECE);
                pair.scheduled++;
                down.schedule(piece.length, () => { pair.scheduled--; pair.toClient.push(piece); toClient(pair); });
              }
            },
            drain(up) { pump(up, pair.toUpstream); },
            close() { if (!pair.closed) { pair.closed = true; pair.upstreamDone = true; toClient(pair); } },
            error() { pair.client.end(); },
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        const pair = client.data;
        const copy = Buffer.from(chunk);
        setTimeout(() => up.schedule(copy.length, () => {
          pair.toUpstream.push(copy);
          pump(pair.upstream, pair.toUpstream);
        }), proxy.delayMs);
      },
      drain(client) { toClient(client.data); },
      close(client) { const p = client.data; if (!p.closed) { p.closed = true; setTimeout(() => p.upstream?.end(), proxy.delayMs); } },
      error() {},
    },
  });
  proxy.port = listener.port;
  proxy.endpoint = `http://127.0.0.1:${listener.port}`;
  return proxy;
}
