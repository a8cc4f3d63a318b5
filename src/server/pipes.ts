/**
 * Pipe hand-over (Linux): `connect` asks the server to serve the go command's
 * own pipes, so that requests and answers no longer pass through `connect`
 * (one process hop each way fewer: serve costs what direct mode costs).
 *
 *   server -> client   the capability line carrying "GcpPipes":1 (the go command ignores
 *                      unknown fields, so an older connect relays it unharmed)
 *   client -> server   "gcp-pipes <pid> <stdin inode> <stdout inode>\n", first and only then
 *   server -> client   "gcp-pipes ok\n": the server now reads /proc/<pid>/fd/0 and writes
 *                      /proc/<pid>/fd/1; the connection stays open as the session's lifeline.
 *                      "gcp-pipes no <reason>\n": nothing changed, connect copies bytes as before.
 *
 * The server opens another process's descriptors only when it may (the
 * kernel allows /proc/<pid>/fd to the same user, so a server running as
 * another user always answers "no"), only for the process at the other end
 * of this very connection (TCP from 127.0.0.1 only: the peer's socket inode,
 * from /proc/net/tcp, must be among that process's descriptors), only
 * anonymous pipes with the inodes the client named (checked on the link
 * before anything is opened, and opened without becoming a controlling
 * terminal), and only pipes that no other session is being served on.
 */
import { closeSync, constants, openSync, opendirSync, readlinkSync, readSync, writeSync } from "node:fs";
import { BufferedSocketWriter } from "./socket-writer.ts";
import { COMMANDS } from "../protocol/commands.ts";

/** The capability line of a server that can take the pipes over: CAPABILITY_LINE plus the offer. */
export const PIPES_CAPABILITY = `${JSON.stringify({ ID: 0, KnownCommands: COMMANDS, GcpPipes: 1 })}\n`;
export const PIPES_REQUEST = /^gcp-pipes (\d{1,10}) (\d{1,20}) (\d{1,20})$/;
/** No request line is longer. */
export const PIPES_MAX_LINE = 80;

/** /proc/net/tcp is read whole, up to this; a host with more sockets falls back to copying. */
const TCP_TABLE_MAX = 8 << 20;
const FD_SCAN_MAX = 4096;

export interface PipeClaim { pid: number; inIno: number; outIno: number }

/** The inode of the established IPv4 loopback socket 127.0.0.1:`localPort` -> 127.0.0.1:`remotePort`, from /proc/net/tcp. */
export function tcpSocketInode(table: string, localPort: number, remotePort: number): number | undefined {
  const local = `0100007F:${localPort.toString(16).toUpperCase().padStart(4, "0")}`;
  const remote = `0100007F:${remotePort.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of table.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote && f[3] === "01" && /^\d+$/.test(f[9] ?? "")) return Number(f[9]);
  }
  return undefined;
}

/** /proc/net/tcp, or undefined when it is longer than TCP_TABLE_MAX (read in bounded steps: it may be huge). */
function readTcpTable(): string | undefined {
  const fd = openSync("/proc/net/tcp", constants.O_RDONLY);
  try {
    const buf = Buffer.allocUnsafe(256 << 10);
    const parts: string[] = [];
    let total = 0;
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, null);
      if (got === 0) return parts.join("");
      total += got;
      if (total > TCP_TABLE_MAX) return undefined;
      parts.push(buf.toString("latin1", 0, got));
    }
  } finally {
    closeSync(fd);
  }
}

/** True when process `pid` holds socket `inode` among its first FD_SCAN_MAX descriptors. */
function holdsSocket(pid: number, inode: number): boolean {
  const dir = opendirSync(`/proc/${pid}/fd`);
  const want = `socket:[${inode}]`;
  try {
    for (let i = 0; i < FD_SCAN_MAX; i++) {
      const e = dir.readSync();
      if (!e) return false;
      try { if (readlinkSync(`/proc/${pid}/fd/${e.name}`) === want) return true; } catch { /* closed meanwhile */ }
    }
    return false;
  } finally {
    dir.closeSync();
  }
}

/** Opened pipes; `release` (PipeChannel.close calls it) lets the same pipes be claimed again. */
export interface ClaimedPipes { inFd: number; outFd: number; release(): void }

/** Pipes (by inode) that a session is being served on: the same pipe is never taken twice. */
const taken = new Set<number>();

/**
 * Opens the claimed process's stdin (read, non-blocking) and stdout (write,
 * non-blocking) after the checks above. `peer`: for TCP, the connection's
 * ports as the server sees them; undefined for a Unix socket, which only
 * this user can reach (mode 0600). Throws with the reason when any check fails.
 */
export function openClaimedPipes(claim: PipeClaim, peer: { serverPort: number; clientAddress: string; clientPort: number } | undefined): ClaimedPipes {
  if (process.platform !== "linux") throw new Error("not on Linux");
  if (peer) {
    // Any 127/8 address reaches a loopback listener; the lookup below is for 127.0.0.1 (where connect comes from).
    if (peer.clientAddress !== "127.0.0.1") throw new Error(`the peer is ${peer.clientAddress.slice(0, 50)}, not 127.0.0.1`);
    const table = readTcpTable();
    if (table === undefined) throw new Error("too many sockets to find the peer");
    const inode = tcpSocketInode(table, peer.clientPort, peer.serverPort);
    if (inode === undefined) throw new Error("the peer's socket is not in /proc/net/tcp");
    if (!holdsSocket(claim.pid, inode)) throw new Error(`process ${claim.pid} is not the peer of this connection`);
  }
  if (claim.inIno === claim.outIno) throw new Error("stdin and stdout are the same pipe");
  if (taken.has(claim.inIno) || taken.has(claim.outIno)) throw new Error("those pipes are being served already");
  // The links name what the descriptors are: nothing but the anonymous pipes named is ever opened (no
  // terminal, device or named FIFO), and O_NOCTTY besides.
  for (const [fd, ino] of [[0, claim.inIno], [1, claim.outIno]] as const) {
    if (readlinkSync(`/proc/${claim.pid}/fd/${fd}`) !== `pipe:[${ino}]`) throw new Error(`descriptor ${fd} is not the pipe named`);
  }
  const fds: number[] = [];
  try {
    const inFd = openSync(`/proc/${claim.pid}/fd/0`, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    fds.push(inFd);
    const outFd = openSync(`/proc/${claim.pid}/fd/1`, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    fds.push(outFd);
    // What was opened, as the kernel names it: that anonymous pipe (a FIFO's link is "pipe:[<inode>]" only for an
    // anonymous pipe; a named FIFO with the same inode number elsewhere shows its path).
    if (readlinkSync(`/proc/self/fd/${inFd}`) !== `pipe:[${claim.inIno}]` || readlinkSync(`/proc/self/fd/${outFd}`) !== `pipe:[${claim.outIno}]`) throw new Error("the pipes are not the ones named");
    taken.add(claim.inIno).add(claim.outIno);
    return { inFd, outFd, release: () => { taken.delete(claim.inIno); taken.delete(claim.outIno); } };
  } catch (err) {
    for (const fd of fds) try { closeSync(fd); } catch { /* closing */ }
    throw err;
  }
}

/**
 * The go command's pipes, served from here: input read on the event loop,
 * output written without blocking (what the pipe does not take now waits in
 * order, retried after 1 ms, backing off to 100 ms while the pipe stays full;
 * the owner bounds it by `backlogBytes`).
 */
export class PipeChannel {
  readonly out: BufferedSocketWriter;
  private closed = false;
  private retry: Timer | undefined;
  private retryMs = 1;
  private readonly inFd: number;
  private readonly outFd: number;
  private input: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> } | undefined;
  /** Set when a write failed (the go command is gone). */
  broken = false;

  constructor(private readonly pipes: ClaimedPipes) {
    this.inFd = pipes.inFd;
    this.outFd = pipes.outFd;
    this.out = new BufferedSocketWriter({ write: (data) => this.writeNow(data) });
  }

  /** Feeds every chunk of input to `onData` until end of input or close(); resolves then. */
  async pump(onData: (chunk: Uint8Array) => void | Promise<void>): Promise<void> {
    this.input = Bun.file(this.inFd).stream().getReader();
    try {
      for (;;) {
        const { done, value } = await this.input.read();
        if (done || this.closed || !value) return;
        await onData(value);
      }
    } catch {
      /* closed under us, or a read error: the input has ended either way */
    }
  }

  write(data: string | Uint8Array): void {
    if (this.closed || this.broken) return;
    this.out.write(typeof data === "string" ? Buffer.from(data) : data);
    if (this.out.backlogBytes > 0 && !this.retry) this.scheduleRetry(1);
  }

  private scheduleRetry(ms: number): void {
    this.retryMs = ms;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.closed) return;
      const before = this.out.backlogBytes;
      this.out.drain();
      const left = this.out.backlogBytes;
      if (left > 0) this.scheduleRetry(left < before ? 1 : Math.min(this.retryMs * 2, 100));
    }, ms);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retry);
    this.out.discard();
    this.pipes.release();
    void this.input?.cancel().catch(() => {});
    for (const fd of [this.inFd, this.outFd]) try { closeSync(fd); } catch { /* already closed */ }
  }

  private writeNow(data: Uint8Array): number {
    if (this.closed || this.broken) return data.length; // dropped: nobody reads it
    try {
      return writeSync(this.outFd, data);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") return 0;
      this.broken = true;
      return data.length;
    }
  }
}
