/**
 * The metrics layer: components own plain counter objects and register them
 * here under a stable prefix; this module only reads and renders them, as one
 * summary line (direct mode) or Prometheus text (serve --http).
 */
export type Counters = Record<string, number>;

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Fixed-bucket latency histogram (seconds). */
export class Histogram {
  static readonly BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  readonly counts = new Array<number>(Histogram.BOUNDS.length + 1).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < Histogram.BOUNDS.length && seconds > Histogram.BOUNDS[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

export class Metrics {
  private readonly sources: Array<[string, () => Counters]> = [];
  private readonly histograms: Array<[string, string, Histogram]> = [];
  private readonly gauges = new Set<string>();
  readonly startedAt = performance.now();

  /** Registers a component's counters; names become `<prefix>_<snake_name>`. `gauges` lists names that go up and down. */
  register(prefix: string, read: () => Counters, gauges: string[] = []): void {
    this.sources.push([prefix, read]);
    for (const g of gauges) this.gauges.add(`${prefix}_${snake(g)}`);
  }

  registerHistogram(name: string, help: string, h: Histogram): void {
    this.histograms.push([name, help, h]);
  }

  snapshot(): Counters {
    const out: Counters = {};
    for (const [prefix, read] of this.sources) {
      for (const [name, value] of Object.entries(read())) {
        const key = `${prefix}_${snake(name)}`;
        out[key] = (out[key] ?? 0) + value;
      }
    }
    return out;
  }

  /** One human line for stderr at exit. */
  summary(): string {
    const s = this.snapshot();
    const secs = ((performance.now() - this.startedAt) / 1000).toFixed(3);
    return `metrics: ${Object.entries(s).map(([k, v]) => `${k}=${v}`).join(" ")} elapsed=${secs}s`;
  }

  /** Prometheus text exposition format (version 0.0.4). */
  prometheus(): string {
    const s = this.snapshot();
    const lines: string[] = [];
    for (const [key, value] of Object.entries(s)) {
      const gauge = this.gauges.has(key);
      const name = `gocache_${key}${gauge ? "" : "_total"}`;
      lines.push(`# TYPE ${name} ${gauge ? "gauge" : "counter"}`, `${name} ${value}`);
    }
    // Hits by tier, derived from the session and remote counters.
    if (s.cache_hits !== undefined) {
      const remote = s.remote_hits ?? 0;
      lines.push("# HELP gocache_hits_by_tier_total Build cache hits by the tier that had the entry.", "# TYPE gocache_hits_by_tier_total counter",
        `gocache_hits_by_tier_total{tier="local"} ${s.cache_hits - remote}`, `gocache_hits_by_tier_total{tier="remote"} ${remote}`);
    }
    for (const [name, help, h] of this.histograms) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      let cumulative = 0;
      Histogram.BOUNDS.forEach((b, i) => {
        cumulative += h.counts[i]!;
        lines.push(`${name}_bucket{le="${b}"} ${cumulative}`);
      });
      lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`);
    }
    lines.push("# TYPE gocache_uptime_seconds gauge", `gocache_uptime_seconds ${((performance.now() - this.startedAt) / 1000).toFixed(3)}`);
    return lines.join("\n") + "\n";
  }
}
