/**
 * Writes to a Bun socket without losing bytes: `socket.write` takes what the
 * kernel accepts now, the rest waits here, in order, until the socket's
 * `drain` handler calls drain(). Used by both ends of server mode.
 *
 * The backlog is counted, so that a peer that does not read cannot make it
 * grow without bound: the owner pauses its own input while `backlogBytes`
 * is over its high-water mark (see `onLow` and `whenBelow`).
 */
export interface WritableSocket {
  write(data: Uint8Array): number;
}

export class BufferedSocketWriter {
  private backlog: Uint8Array[] = [];
  private queued = 0;
  private whenDrained: Array<() => void> = [];
  private lowWaiters: Array<{ limit: number; fn: () => void }> = [];

  constructor(private readonly socket: WritableSocket) {}

  /** Bytes accepted by write() and not yet taken by the socket. */
  get backlogBytes(): number {
    return this.queued;
  }

  write(data: Uint8Array): void {
    if (this.backlog.length > 0) {
      this.backlog.push(data);
      this.queued += data.length;
      return;
    }
    const n = this.socket.write(data);
    if (n < data.length) {
      const rest = data.subarray(Math.max(n, 0));
      this.backlog.push(rest);
      this.queued += rest.length;
    }
  }

  /** Call from the socket's drain handler. */
  drain(): void {
    while (this.backlog.length > 0) {
      const data = this.backlog[0]!;
      const n = Math.max(this.socket.write(data), 0);
      this.queued -= Math.min(n, data.length);
      if (n < data.length) {
        this.backlog[0] = data.subarray(n);
        this.wakeBelow();
        return;
      }
      this.backlog.shift();
    }
    this.wakeBelow();
    const fns = this.whenDrained;
    this.whenDrained = [];
    for (const fn of fns) fn();
  }

  /** Runs `fn` once everything written so far has been handed to the socket. */
  afterFlush(fn: () => void): void {
    if (this.backlog.length === 0) fn();
    else this.whenDrained.push(fn);
  }

  /** Resolves once the backlog is at most `limit` bytes. */
  whenBelow(limit: number): Promise<void> {
    if (this.queued <= limit) return Promise.resolve();
    return new Promise((resolve) => this.lowWaiters.push({ limit, fn: resolve }));
  }

  /** Drops the backlog (the peer is gone); waiters are released. */
  discard(): void {
    this.backlog = [];
    this.queued = 0;
    this.wakeBelow();
  }

  private wakeBelow(): void {
    if (this.lowWaiters.length === 0) return;
    const ready = this.lowWaiters.filter((w) => this.queued <= w.limit);
    this.lowWaiters = this.lowWaiters.filter((w) => this.queued > w.limit);
    for (const w of ready) w.fn();
  }
}
