/**
 * `connect PORT|PATH`: bridges stdin/stdout to a running `serve`, for
 * GOCACHEPROG. Spawned by every go command, so it does nothing but copy bytes.
 */
import { closeSync } from "node:fs";
import type { Socket } from "bun";
import { UsageError } from "../config.ts";
import { writeAll } from "../server/stdio.ts";
import { BufferedSocketWriter } from "../server/socket-writer.ts";

export async function runConnect(argv: string[]): Promise<number> {
  const target = argv[0];
  if (!target || argv.length > 1 || target.startsWith("-")) {
    throw new UsageError(target === "--help" || target === "-h" ? "usage: go-cache-plugin connect PORT|PATH" : "connect takes one argument: the server's --plugin PORT or --socket PATH");
  }
  const isPort = /^\d+$/.test(target);
  const where = isPort ? `127.0.0.1:${target}` : target;
  let out: BufferedSocketWriter | undefined;
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
    drain: () => out?.drain(),
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

  const toServer = (out = new BufferedSocketWriter(socket));
  void (async () => {
    for await (const chunk of Bun.stdin.stream()) toServer.write(chunk);
    // End of input: let the server finish, it closes the connection.
    toServer.afterFlush(() => socket.shutdown());
  })();

  const code = await finished;
  try { closeSync(1); } catch { /* already closed */ }
  return code;
}
