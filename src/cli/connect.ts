/**
 * `connect PORT|PATH [--token-file FILE]`: bridges stdin/stdout to a running
 * `serve`, for GOCACHEPROG. Spawned by every go command, so it does little
 * but copy bytes; before the first one it makes sure of its peer:
 * - PORT: the token handshake (server/auth.ts) proves both sides know the
 *   secret of the server's token file; a squatter on the port is refused.
 * - PATH: the socket must belong to this user (only its owner can have
 *   created it there with that owner).
 * On Linux, when the server offers it and stdin and stdout are pipes (as the
 * go command makes them), the server takes the pipes over (server/pipes.ts)
 * and this process only waits for the session to end; otherwise, or with
 * --no-pipes, it copies bytes both ways.
 */
import { closeSync, fstatSync, lstatSync } from "node:fs";
import type { Socket } from "bun";
import { UsageError } from "../config.ts";
import { writeAll } from "../server/stdio.ts";
import { BufferedSocketWriter } from "../server/socket-writer.ts";
import { ClientHandshake } from "../server/auth.ts";
import { defaultTokenPaths, readToken } from "../server/token.ts";

const USAGE = "usage: go-cache-plugin connect PORT|PATH [--token-file FILE] [--no-pipes]";
/** Stdin is not read further while this much waits for the server. */
const BACKLOG_HIGH = 4 << 20;

export async function runConnect(argv: string[]): Promise<number> {
  const { target, tokenFile, pipes } = parseConnectArgs(argv, process.env);
  const isPort = /^\d+$/.test(target);
  const where = isPort ? `127.0.0.1:${target}` : target;
  let failed = false;
  const fail = (msg: string) => {
    if (!failed) process.stderr.write(`go-cache-plugin connect: ${msg}\n`);
    failed = true;
    return 1;
  };
  let secret: string | undefined;
  try {
    if (isPort) secret = findSecret(Number(target), tokenFile);
    else checkSocketOwner(target);
  } catch (err) {
    return fail((err as Error).message);
  }

  const handshake = secret ? new ClientHandshake(secret) : undefined;
  let authed = !handshake;
  /** The server's first line (the capability line) and, if the hand-over was asked, its answer, until decided. */
  const offer = new HandOver(pipes ? ownPipes() : undefined);
  let out: BufferedSocketWriter | undefined;
  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  let ready!: () => void;
  const authenticated = new Promise<void>((resolve) => (ready = resolve));
  const toStdout = (s: Socket, chunk: Uint8Array) => {
    try {
      writeAll(1, chunk);
    } catch {
      s.end(); // the go command is gone (EPIPE): drop the connection, the server carries on
      done(1);
    }
  };

  /** After authentication: the hand-over first, then copying (or nothing, once the server has the pipes). */
  const fromServer = (s: Socket, chunk: Uint8Array) => {
    if (offer.state === "handed") return; // the server answers on the pipes; nothing should come here
    if (offer.state === "copy") return toStdout(s, chunk);
    const step = offer.feed(chunk);
    if (step.send) s.write(step.send);
    if (step.relay) {
      ready(); // copying from now on: stdin goes to the server
      if (step.relay.length) toStdout(s, step.relay);
    }
  };

  const handlers = {
    open: (s: Socket) => { if (handshake) s.write(handshake.hello()); },
    data: (s: Socket, chunk: Buffer) => {
      if (authed) return fromServer(s, chunk);
      const step = handshake!.feed(chunk);
      if (step.t === "more") return;
      if (step.t === "fail") {
        fail(`${where}: ${step.reason}`);
        s.terminate();
        return done(1);
      }
      authed = true;
      if (step.send) s.write(step.send);
      if (step.rest.length) fromServer(s, step.rest);
    },
    drain: () => out?.drain(),
    close: () => done(authed ? 0 : fail(`${where} closed the connection during authentication (wrong token?)`)),
    error: (_s: Socket, err: Error) => done(fail(`connection to ${where} failed: ${err.message}`)),
  };
  let socket: Socket;
  try {
    socket = isPort
      ? await Bun.connect({ hostname: "127.0.0.1", port: Number(target), socket: handlers })
      : await Bun.connect({ unix: target, socket: handlers });
    if (isPort) socket.setNoDelay(true);
  } catch (err) {
    const how = isPort ? `go-cache-plugin serve --plugin ${target}` : `go-cache-plugin serve --socket ${target}`;
    return fail(`no server at ${where} (${(err as Error).message}); start one with: ${how}`);
  }

  const toServer = (out = new BufferedSocketWriter(socket));
  void (async () => {
    await authenticated;
    for await (const chunk of Bun.stdin.stream()) {
      toServer.write(chunk);
      if (toServer.backlogBytes > BACKLOG_HIGH) await toServer.whenBelow(BACKLOG_HIGH / 4);
    }
    // End of input: let the server finish, it closes the connection.
    toServer.afterFlush(() => socket.shutdown());
  })();

  const code = await finished;
  try { closeSync(1); } catch { /* already closed */ }
  return code;
}

export function parseConnectArgs(argv: string[], env: Record<string, string | undefined>): { target: string; tokenFile?: string; pipes: boolean } {
  let target: string | undefined;
  let pipes = true;
  let tokenFile = env.GOCACHE_TOKEN_FILE || undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--help" || a === "-h") throw new UsageError(USAGE);
    if (a === "--token-file" || a.startsWith("--token-file=")) {
      tokenFile = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      if (!tokenFile) throw new UsageError("--token-file needs a value");
    } else if (a === "--no-pipes") pipes = false;
    else if (a.startsWith("-")) throw new UsageError(`connect: unknown flag ${a}; ${USAGE}`);
    else if (target !== undefined) throw new UsageError(`connect takes one server: the --plugin PORT or --socket PATH of serve; ${USAGE}`);
    else target = a;
  }
  if (!target) throw new UsageError(`connect takes one argument: the server's --plugin PORT or --socket PATH; ${USAGE}`);
  return { target, tokenFile, pipes };
}

/** This process's stdin and stdout when both are pipes on Linux (what the hand-over can take), else undefined. */
function ownPipes(): { inIno: number; outIno: number } | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    const [i, o] = [fstatSync(0), fstatSync(1)];
    return i.isFIFO() && o.isFIFO() ? { inIno: i.ino, outIno: o.ino } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The client side of the pipe hand-over (server/pipes.ts): reads the
 * server's capability line; if it offers the hand-over and we have pipes,
 * asks for it and reads the answer. Ends in "handed" (the server has the
 * pipes) or "copy" (relay the capability line and whatever follows).
 */
class HandOver {
  state: "capability" | "asked" | "handed" | "copy" = "capability";
  private buf = "";
  private capability = "";

  constructor(private readonly pipes: { inIno: number; outIno: number } | undefined) {}

  /** `relay` is set once copying is decided: what to write to stdout first (the capability line and anything after it). */
  feed(chunk: Uint8Array): { send?: string; relay?: Uint8Array } {
    this.buf += Buffer.from(chunk).toString("latin1");
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl < 0) {
        // No server line is this long: copy it through and let the go command judge it.
        if (this.buf.length > 4096) return this.copy("");
        return {};
      }
      const line = this.buf.slice(0, nl + 1);
      this.buf = this.buf.slice(nl + 1);
      if (this.state === "capability") {
        this.capability = line;
        if (!this.pipes || !line.includes('"GcpPipes":1')) return this.copy(line);
        this.state = "asked";
        const ask = `gcp-pipes ${process.pid} ${this.pipes.inIno} ${this.pipes.outIno}\n`;
        if (this.buf.length === 0) return { send: ask };
        return this.copy(line); // the server sent more than its line: it does not wait for us
      }
      if (line === "gcp-pipes ok\n") {
        this.state = "handed";
        return {};
      }
      return this.copy(this.capability); // "gcp-pipes no <reason>": copy as before
    }
  }

  private copy(first: string): { relay: Uint8Array } {
    this.state = "copy";
    const relay = Buffer.from(first + this.buf, "latin1");
    this.buf = "";
    return { relay };
  }
}

function findSecret(port: number, tokenFile: string | undefined): string {
  if (tokenFile) return readToken(tokenFile);
  const paths = defaultTokenPaths(port);
  for (const p of paths) {
    if (lstatSync(p, { throwIfNoEntry: false })) return readToken(p);
  }
  throw new Error(`no server at 127.0.0.1:${port} for this user (no token in ${paths.join(" or ")}); start one with: go-cache-plugin serve --plugin ${port} (a server of another account: pass its --token-file)`);
}

function checkSocketOwner(path: string): void {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) throw new Error(`no server at ${path} (nothing there); start one with: go-cache-plugin serve --socket ${path}`);
  if (!st.isSocket()) throw new Error(`${path} is not a socket`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new Error(`${path} belongs to uid ${st.uid}, not to this user (${uid}): refusing to talk to another user's server`);
}
