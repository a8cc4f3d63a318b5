/**
 * Writes to a Bun socket without losing bytes: `socket.write` takes what the
 * kernel accepts now, the rest waits here, in order, until the socket's
 * `drain` handler calls drain(). Used by both ends of server mode.
 */
export interface WritableSocket {
  write(data: Uint8Array): number;
}

export class BufferedSocketWriter {
  private backlog: Uint8Array[] = [];
  private whenDrained: (() => void) | undefined;

  constructor(private readonly socket: WritableSocket) {}

  write(data: Uint8Array): void {
    if (this.backlog.length > 0) {
      this.backlog.push(data);
      return;
    }
    const n = this.socket.write(data);
    if (n < data.length) this.backlog.push(data.subarray(Math.max(n, 0)));
  }

  /** Call from the socket's drain handler. */
  drain(): void {
    while (this.backlog.length > 0) {
      const data = this.backlog[0]!;
      const n = this.socket.write(data);
      if (n < data.length) {
        this.backlog[0] = data.subarray(Math.max(n, 0));
        return;
      }
      this.backlog.shift();
    }
    const fn = this.whenDrained;
    this.whenDrained = undefined;
    fn?.();
  }

  /** Runs `fn` once everything written so far has been handed to the socket. */
  afterFlush(fn: () => void): void {
    if (this.backlog.length === 0) fn();
    else this.whenDrained = fn;
  }
}
