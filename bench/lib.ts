/**
 * Benchmark helpers: statistics, temp directories, child processes whose
 * output is always drained (an unread pipe deadlocks the child), and the
 * isolated environment every go command here runs in.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";

// ---------------------------------------------------------------- statistics

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export const median = (values: number[]) => quantile(values, 0.5);

export const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
export const fmtRatio = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}x` : "-");

// ---------------------------------------------------------------- temp dirs

const root = mkdtempSync(join(tmpdir(), "gcp-bench-"));

/**
 * Where the harness's own file churn goes: the go command's temporary work
 * directories (GOTMPDIR) and the S3 server's data. Kept apart from the
 * measured cache directories because on ext4, creating files next to
 * thousands that were just deleted costs about 0.75 ms each instead of
 * 0.02-0.1 ms (measured here; it lasts minutes), and a cold build deletes
 * tens of thousands of work files right before the fresh-runner runs. A real
 * fresh runner has no such history. BENCH_CHURN_DIR overrides the parent.
 */
const churnParent = process.env.BENCH_CHURN_DIR ?? (existsSync("/var/tmp") ? "/var/tmp" : tmpdir());
export const churnRoot = mkdtempSync(join(churnParent, "gcp-bench-churn-"));
const goTmp = mkdtempSync(join(churnRoot, "gotmp-"));

/** A fresh directory under this run's temp root (removed by cleanup()). */
export function tempDir(label: string): string {
  return mkdtempSync(join(root, `${label}-`));
}

/** Removes a directory tree, making read-only module-cache dirs writable first. */
export function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    makeWritable(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

function makeWritable(dir: string): void {
  try { chmodSync(dir, 0o755); } catch { /* ignore */ }
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) makeWritable(p);
  }
}

export function cleanup(): void {
  removeTree(root);
  removeTree(churnRoot);
}

// ---------------------------------------------------------------- processes

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Spawn until the process itself exited. */
  ms: number;
  /**
   * Share of all CPUs' time during the run spent outside this child and the
   * children it waited for (0..1; 10 ms ticks): other load on the machine,
   * plus anything the child left running (e.g. the plugin outliving go).
   */
  otherCpu: number;
}

/**
 * Runs a command to completion, draining stdout and stderr concurrently.
 * `ms` stops at the child's exit; the call still waits for both pipes to
 * reach EOF, so grandchildren holding them (the plugin outliving the go
 * command) are finished before the next measurement starts.
 */
export async function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  const cpu0 = cpuTimes();
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const exited = proc.exited.then((code) => ({ code, ms: performance.now() - t0, cpu1: cpuTimes() }));
  const [stdout, stderr, { code, ms, cpu1 }] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    exited,
  ]);
  const busyMs = (cpu1.total - cpu1.idle - (cpu0.total - cpu0.idle)) * TICK_MS;
  const childMs = Number(proc.resourceUsage()?.cpuTime.total ?? 0) / 1000;
  const otherCpu = Math.max(0, busyMs - childMs) / (ms * availableParallelism());
  return { code, stdout, stderr, ms, otherCpu };
}

/** Like run() but throws with the output when the exit code is not 0. */
export async function runOk(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  const r = await run(cmd, opts);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}\n${r.stderr.slice(-2000)}${r.stdout.slice(-1000)}`);
  return r;
}

/** Reads stdout of a spawned process line by line. */
export class LineReader {
  private buf = "";
  private readonly dec = new TextDecoder();
  private readonly reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> };

  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }

  /** The next line without its newline, or undefined at EOF. */
  async next(): Promise<string | undefined> {
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        return line;
      }
      const { done, value } = await this.reader.read();
      if (done) {
        if (this.buf === "") return undefined;
        const rest = this.buf;
        this.buf = "";
        return rest;
      }
      this.buf += this.dec.decode(value, { stream: true });
    }
  }

  /** Reads (and discards) everything that is left. */
  async drain(): Promise<void> {
    for (;;) {
      const { done } = await this.reader.read();
      if (done) return;
    }
  }
}

/** Peak and current resident set size of a live process, in bytes (Linux). */
export function procMemory(pid: number): { hwm: number; rss: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;
  return { hwm: kb("VmHWM"), rss: kb("VmRSS") };
}

// ---------------------------------------------------------------- go

export function goBinary(): string {
  const found = Bun.which("go") ?? (existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : undefined);
  if (!found) throw new Error("the go command was not found on PATH or in /usr/local/go/bin");
  return found;
}

/**
 * An environment with nothing of the caller's Go settings: private HOME,
 * GOPATH and GOMODCACHE, no toolchain switching, no cgo, no telemetry, no
 * network unless the caller sets GOPROXY.
 */
export function goEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith("GO") || k === "CGO_ENABLED") continue;
    env[k] = v;
  }
  return {
    ...env,
    HOME: home,
    GOENV: "off",
    GOPATH: join(home, "gopath"),
    GOMODCACHE: join(home, "gomodcache"),
    GOPROXY: "off",
    GOTOOLCHAIN: "local",
    GOFLAGS: "-mod=mod",
    CGO_ENABLED: "0",
    GOTELEMETRY: "off",
    GOTMPDIR: goTmp,
    ...extra,
  };
}

/** Parses the plugin's `metrics:` line into numbers (summed over several lines). */
export function parseMetrics(stderr: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of stderr.split("\n")) {
    if (!line.includes("metrics: ")) continue;
    for (const m of line.matchAll(/(\w+)=([\d.]+)/g)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

// ---------------------------------------------------------------- machine load

/** /proc/stat counts in USER_HZ ticks, 100 per second on Linux. */
const TICK_MS = 10;

function cpuTimes(): { idle: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + (f[4] ?? 0); // idle + iowait
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}

/** Fraction of all CPUs busy over the next `ms` (0..1); call while this process is idle. */
export async function cpuBusy(ms = 2000): Promise<number> {
  const a = cpuTimes();
  await Bun.sleep(ms);
  const b = cpuTimes();
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : 0;
}
