/**
 * The metrics layer: components own plain counter objects and register them
 * here under a stable prefix; this module only reads and renders them.
 */
export type Counters = Record<string, number>;

export class Metrics {
  private readonly sources: Array<[string, () => Counters]> = [];
  readonly startedAt = performance.now();

  /** Registers a component's counters; names become `<prefix>_<name>`. */
  register(prefix: string, read: () => Counters): void {
    this.sources.push([prefix, read]);
  }

  snapshot(): Counters {
    const out: Counters = {};
    for (const [prefix, read] of this.sources) {
      for (const [name, value] of Object.entries(read())) {
        const key = `${prefix}_${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
        out[key] = (out[key] ?? 0) + value;
      }
    }
    return out;
  }

  /** One human line for stderr at exit. */
  summary(): string {
    const s = this.snapshot();
    const secs = ((performance.now() - this.startedAt) / 1000).toFixed(3);
    const parts = Object.entries(s).map(([k, v]) => `${k}=${v}`);
    return `metrics: ${parts.join(" ")} elapsed=${secs}s`;
  }
}
