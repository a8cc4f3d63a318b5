/**
 * A hand-driven client of `serve`'s plugin port or socket, for tests that
 * must send what the go command never would (or authenticate, or not).
 */
import { existsSync } from "node:fs";
import type { Socket } from "bun";
import { ClientHandshake } from "../../src/server/auth.ts";
import { defaultTokenPaths, readToken } from "../../src/server/token.ts";

export interface RawClient {
  socket: Socket;
  /** Everything received so far (after the handshake, when there was one). */
  received(): string;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
  write(data: string | Uint8Array): void;
  /** Resolves when `text` has arrived (or rejects after `ms`). */
  waitFor(text: string, ms?: number): Promise<void>;
}

/** The secret `serve --plugin port` wrote for this user. */
export function tokenFor(port: number): string {
  const path = defaultTokenPaths(port).find((p) => existsSync(p));
  if (!path) throw new Error(`no token file for port ${port}`);
  return readToken(path);
}

/** Connects; with `secret`, performs the client side of the handshake first. */
export async function rawConnect(target: { port: number } | { path: string }, opts: { secret?: string } = {}): Promise<RawClient> {
  let text = "";
  let closed = false;
  let onClose!: () => void;
  const closedP = new Promise<void>((r) => (onClose = r));
  const hs = opts.secret ? new ClientHandshake(opts.secret) : undefined;
  let authed = !hs;
  let authDone!: () => void;
  let authFail!: (e: Error) => void;
  const authP = new Promise<void>((res, rej) => { authDone = res; authFail = rej; });
  const handlers = {
    data: (s: Socket, chunk: Buffer) => {
      if (authed) { text += chunk.toString("latin1"); return; }
      const step = hs!.feed(chunk);
      if (step.t === "fail") return authFail(new Error(step.reason));
      if (step.t === "more") return;
      if (step.send) s.write(step.send);
      authed = true;
      text += Buffer.from(step.rest).toString("latin1");
      authDone();
    },
    close: () => { closed = true; onClose(); authFail(new Error("closed during the handshake")); },
    error: () => { closed = true; onClose(); },
  };
  const socket = "port" in target
    ? await Bun.connect({ hostname: "127.0.0.1", port: target.port, socket: handlers })
    : await Bun.connect({ unix: target.path, socket: handlers });
  if (hs) {
    socket.write(hs.hello());
    await authP;
  } else authDone();
  return {
    socket,
    received: () => text,
    closed: closedP,
    isClosed: () => closed,
    write: (d) => void socket.write(d),
    async waitFor(want, ms = 5000) {
      const until = Date.now() + ms;
      while (!text.includes(want)) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${JSON.stringify(want)}; got ${JSON.stringify(text.slice(0, 300))}`);
        await Bun.sleep(10);
      }
    },
  };
}
