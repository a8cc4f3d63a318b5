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
 * of this very connection (TCP: the peer's socket inode, from /proc/net/tcp,
 * must be among that process's descriptors), and only FIFOs with the inodes
 * the client named.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, readlinkSync, writeSync } from "node:fs";
import { BufferedSocketWriter } from "./socket-writer.ts";

/** The capability line of a server that can take the pipes over. */
export const PIPES_CAPABILITY = '{"ID":0,"KnownCommands":["get","put","close"],"GcpPipes":1}\n';
export const PIPES_REQUEST = /^gcp-pipes (\d{1,10}) (\d{1,20}) (\d{1,20})$/;
/** No request line is longer. */
export const PIPES_MAX_LINE = 80;

/** /proc/net/tcp is read whole; a host with more sockets than this falls back to copying. */
const TCP_TABLE_MAX = 32 << 20;
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

/** True when process `pid` holds socket `inode` among its descriptors. */
function holdsSocket(pid: number, inode: number): boolean {
  const dir = `/proc/${pid}/fd`;
  const fds = readdirSync(dir);
  if (fds.length > FD_SCAN_MAX) return false;
  const want = `socket:[${inode}]`;
  return fds.some((fd) => {
    try { return readlinkSync(`${dir}/${fd}`) === want; } catch { return false; }
  });
}

/**
 * Opens the claimed process's stdin (read, non-blocking) and stdout (write,
 * non-blocking) after the checks above. `peer`: for TCP, the connection's
 * ports as the server sees them; undefined for a Unix socket, which only
 * this user can reach (mode 0600). Throws with the reason when any check fails.
 */
export function openClaimedPipes(claim: PipeClaim, peer: { serverPort: number; clientPort: number } | undefined): { inFd: number; outFd: number } {
  if (process.platform !== "linux") throw new Error("not on Linux");
  if (peer) {
    const table = readFileSync("/proc/net/tcp", "latin1");
    if (table.length > TCP_TABLE_MAX) throw new Error("too many sockets to find the peer");
    const inode = tcpSocketInode(table, peer.clientPort, peer.serverPort);
    if (inode === undefined) throw new Error("the peer's socket is not in /proc/net/tcp");
    if (!holdsSocket(claim.pid, inode)) throw new Error(`process ${claim.pid} is not the peer of this connection`);
  }
  const fds: number[] = [];
  try {
    const inFd = openSync(`/proc/${claim.pid}/fd/0`, constants.O_RDONLY | constants.O_NONBLOCK);
    fds.push(inFd);
    const outFd = openSync(`/proc/${claim.pid}/fd/1`, constants.O_WRONLY | constants.O_NONBLOCK);
    fds.push(outFd);
    const [i, o] = [fstatSync(inFd), fstatSync(outFd)];
    if (!i.isFIFO() || !o.isFIFO()) throw new Error("stdin and stdout are not both pipes");
    if (i.ino !== claim.inIno || o.ino !== claim.outIno) throw new Error("the pipes are not the ones named");
    return { inFd, outFd };
  } catch (err) {
    for (const fd of fds) try { closeSync(fd); } catch { /* closing */ }
    throw err;
  }
}

/**
 * The go command's pipes, served from here: input read on the event loop,
 * output written without blocking (what the pipe does not take now waits in
 * order, retried every millisecond; the owner bounds it by `backlogBytes`).
 */
export class PipeChannel {
  readonly out: BufferedSocketWriter;
  private closed = false;
  private retry: Timer | undefined;
  private input: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> } | undefined;
  /** Set when a write failed (the go command is gone). */
  broken = false;

  constructor(private readonly inFd: number, private readonly outFd: number) {
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
    if (this.out.backlogBytes === 0 || this.retry) return;
    this.retry = setInterval(() => {
      this.out.drain();
      if (this.out.backlogBytes > 0 && !this.closed) return;
      clearInterval(this.retry);
      this.retry = undefined;
    }, 1);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.retry);
    this.out.discard();
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
