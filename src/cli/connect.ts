/**
 * `connect PORT|PATH`: bridges stdin/stdout to a running `serve`, for
 * GOCACHEPROG. Spawned by every go command, so it does nothing but copy bytes.
 */
import { closeSync } from "node:fs";
import type { Socket } from "bun";
import { UsageError } from "../config.ts";
import { writeAll } from "../server/stdio.ts";

export async function runConnect(argv: string[]): Promise<number> {
  const target = argv[0];
  if (!target || argv.length > 1 || target.startsWith("-")) {
    throw new UsageError(target === "--help" || target === "-h" ? "usage: go-cache-plugin connect PORT|PATH" : "connect takes one argument: the server's --plugin PORT or --socket PATH");
  }
  const isPort = /^\d+$/.test(target);
  const where = isPort ? `127.0.0.1:${target}` : target;
  let backlog: Buffer[] = [];
  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));

  const handlers = {
    data: (s: Socket, chunk: Buffer) => {
      try {
        writeAll(1, chunk);
      } catch {
        s.end(); // the go command is gone (EPIPE): drop the connection, the server carries on
        done(1);
      }
    },
    drain: (s: Socket) => {
      const pending = backlog;
      backlog = [];
      for (const b of pending) send(s, b);
    },
    close: () => done(0),
    error: (_s: Socket, err: Error) => {
      process.stderr.write(`go-cache-plugin connect: connection to ${where} failed: ${err.message}\n`);
      done(1);
    },
  };
  let socket: Socket;
  try {
    socket = isPort
      ? await Bun.connect({ hostname: "127.0.0.1", port: Number(target), socket: handlers })
      : await Bun.connect({ unix: target, socket: handlers });
    if (isPort) socket.setNoDelay(true);
  } catch (err) {
    const how = isPort ? `go-cache-plugin serve --plugin ${target}` : `go-cache-plugin serve --socket ${target}`;
    process.stderr.write(`go-cache-plugin connect: no server at ${where} (${(err as Error).message}); start one with: ${how}\n`);
    return 1;
  }

  function send(s: Socket, data: Buffer): void {
    if (backlog.length > 0) {
      backlog.push(data);
      return;
    }
    const n = s.write(data);
    if (n < data.length) backlog.push(data.subarray(Math.max(n, 0)));
  }

  void (async () => {
    for await (const chunk of Bun.stdin.stream()) send(socket, Buffer.from(chunk));
    // End of input: let the server finish, it closes the connection.
    if (backlog.length === 0) socket.shutdown();
    else setTimeout(function retry() { backlog.length === 0 ? socket.shutdown() : setTimeout(retry, 5); }, 5);
  })();

  const code = await finished;
  try { closeSync(1); } catch { /* already closed */ }
  return code;
}
