/** Starts `go-cache-plugin serve` as a real process for server-mode tests. */
import type { Subprocess } from "bun";
import { binary, tempDir } from "./paths.ts";
import { freePort } from "./net.ts";

export interface ServeProcess {
  port: number;
  httpUrl: string;
  cacheDir: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the server wrote to stderr so far. */
  log(): string;
  /** A snapshot of /metrics: a lookup that fails loudly on a missing series. */
  metrics(): Promise<(series: string) => number>;
  /** Sends a signal and waits for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

const running = new Set<Subprocess>();
process.on("exit", () => { for (const p of running) p.kill("SIGKILL"); });

export async function startServe(extra: string[] = [], env: Record<string, string> = {}): Promise<ServeProcess> {
  const port = await freePort();
  const httpPort = await freePort();
  const cacheDir = tempDir("serve");
  const proc = Bun.spawn([binary(), "serve", "--plugin", String(port), "--http", `127.0.0.1:${httpPort}`, "--cache-dir", cacheDir, ...extra], {
    stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env },
  });
  running.add(proc);
  let stderr = "";
  void (async () => { for await (const c of proc.stderr) stderr += new TextDecoder().decode(c); })();
  void new Response(proc.stdout).text();
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${httpUrl}/healthz`)).ok) break;
    } catch { /* not yet */ }
    if (i > 100 || proc.exitCode !== null) throw new Error(`serve did not start:\n${stderr}`);
    await Bun.sleep(50);
  }
  return {
    port, httpUrl, cacheDir, proc,
    log: () => stderr,
    metrics: async () => {
      const all = parsePrometheus(await (await fetch(`${httpUrl}/metrics`)).text());
      return (series: string) => {
        const v = all[series];
        if (v === undefined) throw new Error(`no series ${series} in /metrics`);
        return v;
      };
    },
    stop: async (signal = "SIGTERM") => {
      proc.kill(signal);
      const code = await proc.exited;
      running.delete(proc);
      return code;
    },
  };
}

/** Parses Prometheus text format strictly enough to fail on malformed lines; keys keep their labels. */
export function parsePrometheus(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const typed = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) {
      if (m[1] === "TYPE") {
        if (!/^(counter|gauge|histogram|summary|untyped)$/.test(m[3]!)) throw new Error(`bad TYPE line: ${line}`);
        typed.add(m[2]!);
      }
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(line);
    if (!m) throw new Error(`malformed metrics line: ${JSON.stringify(line)}`);
    const family = m[1]!.replace(/_(bucket|sum|count)$/, "");
    if (!typed.has(m[1]!) && !typed.has(family)) throw new Error(`sample without a TYPE line: ${line}`);
    out[m[1]! + (m[2] ?? "")] = Number(m[3]);
  }
  return out;
}
