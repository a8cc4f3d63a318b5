/**
 * Singleflight: concurrent calls for one key share one execution and its
 * result (or rejection). The key is forgotten as soon as the call settles,
 * so a later call runs again; callers that want caching re-check their
 * cache inside `fn`.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  /** Runs `fn` unless a call for `key` is already running; then joins it. */
  do(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) return running;
    // fn starts on a later microtask, so the entry is in the map before it can settle.
    const p: Promise<T> = Promise.resolve()
      .then(fn)
      .finally(() => {
        if (this.inFlight.get(key) === p) this.inFlight.delete(key);
      });
    this.inFlight.set(key, p);
    return p;
  }

  /** Keys with a call in progress. */
  get size(): number {
    return this.inFlight.size;
  }
}
