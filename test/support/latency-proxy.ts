/**
 * A TCP proxy that adds a fixed delay to every read from the client before
 * forwarding it upstream, so each request/response exchange costs `delayMs`
 * more, like a distant S3 endpoint. Order within a connection is kept.
 */
import type { Socket } from "bun";

export interface LatencyProxy {
  port: number;
  endpoint: string;
  delayMs: number;
  stop(): void;
}

interface Pair { upstream?: Socket<Pair>; client: Socket<Pair>; toUpstream: Buffer[]; toClient: Buffer[]; closed: boolean }

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

export function startLatencyProxy(target: { hostname: string; port: number }, delayMs: number): LatencyProxy {
  const proxy: LatencyProxy = { port: 0, endpoint: "", delayMs, stop: () => listener.stop(true) };
  const listener = Bun.listen<Pair>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const pair: Pair = { client, toUpstream: [], toClient: [], closed: false };
        client.data = pair;
        void Bun.connect<Pair>({
          ...target,
          data: pair,
          socket: {
            open(up) { pair.upstream = up; up.data = pair; pump(up, pair.toUpstream); },
            data(_up, chunk) { pair.toClient.push(Buffer.from(chunk)); pump(pair.client, pair.toClient); },
            drain(up) { pump(up, pair.toUpstream); },
            close() { if (!pair.closed) { pair.closed = true; pair.client.end(); } },
            error() { pair.client.end(); },
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        const pair = client.data;
        const copy = Buffer.from(chunk);
        setTimeout(() => {
          pair.toUpstream.push(copy);
          pump(pair.upstream, pair.toUpstream);
        }, proxy.delayMs);
      },
      drain(client) { pump(client, client.data.toClient); },
      close(client) { const p = client.data; if (!p.closed) { p.closed = true; setTimeout(() => p.upstream?.end(), proxy.delayMs); } },
      error() {},
    },
  });
  proxy.port = listener.port;
  proxy.endpoint = `http://127.0.0.1:${listener.port}`;
  return proxy;
}
