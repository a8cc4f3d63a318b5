/** Parsers for human-friendly durations and sizes on the command line. */

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Go duration syntax ("90s", "1h30m", "72h"), plus "d" for days and a bare "0"; returns milliseconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new Error(`invalid duration ${JSON.stringify(text)} (try 90s, 30m, 72h or 7d)`);
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = {
  "": 1, b: 1,
  k: 1024, kib: 1024, kb: 1000,
  m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2,
  g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3,
  t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4,
};

/** Sizes: "1048576", "512MiB", "10G" (K/M/G and KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000). */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`invalid size ${JSON.stringify(text)} (try 1048576, 512MiB or 10GiB)`);
  return Math.floor(Number(m[1]) * unit);
}

/** A size for people: "812 B", "3.4 KiB", "1.2 GiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** A duration for people: "850 ms", "12.3 s", "4m10s", "3h05m", "2d04h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000), m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${d}d${String(h % 24).padStart(2, "0")}h`;
}
