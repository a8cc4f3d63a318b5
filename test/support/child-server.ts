/**
 * A test server run as a child process (versitygw, fake-gcs-server,
 * Azurite): a free loopback port, a temporary data directory, readiness by
 * asking the server itself (so a foreign process that took the port is not
 * taken for ours), the last few KB of its output for error messages, and a
 * stop that cannot hang. Children still running when the test process exits
 * are killed.
 */
import type { Subprocess } from "bun";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./net.ts";

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
/** How much of the server's combined stdout/stderr is kept for error messages. */
const OUTPUT_TAIL_BYTES = 8 * 1024;

const live = new Set<Subprocess>();
process.on("exit", () => { for (const p of live) p.kill("SIGKILL"); });

export interface ChildSpec {
  /** For messages: "versitygw". */
  name: string;
  /** The command line for a server on `port` keeping its data in `dataDir`. */
  argv(port: number, dataDir: string): string[];
  /** True once the server at `port` answers as itself. */
  answers(port: number): Promise<boolean>;
  /** How long start() waits for that (default 15 s). */
  readyTimeoutMs?: number;
}

export class ChildServer {
  private proc: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  private tail = "";
  private destroyed = false;

  constructor(private readonly spec: ChildSpec, readonly port: number, readonly dataDir: string) {}

  /** Starts the process (again, after stop(): same port, same data) and resolves once it answers. */
  async start(): Promise<void> {
    if (this.destroyed) throw new Error(`${this.spec.name} test server was destroyed`);
    if (this.proc) return;
    // A clean environment: nothing of the host's cloud settings leaks in.
    const proc = Bun.spawn(this.spec.argv(this.port, this.dataDir), { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/" } });
    this.proc = proc;
    live.add(proc);
    void this.drain(proc.stdout);
    void this.drain(proc.stderr);
    try {
      await this.waitReady(proc);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** SIGTERM (or `signal`), then SIGKILL if it has not exited in a few seconds. Data stays. */
  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    proc.kill(signal);
    const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(STOP_TIMEOUT_MS).then(() => false)]);
    if (!exited) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    live.delete(proc);
  }

  /** stop(signal), then the data directory goes; the server cannot be started again. */
  async destroy(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    this.destroyed = true;
    await this.stop(signal);
    await rm(this.dataDir, { recursive: true, force: true });
  }

  /** Last few KB of the server's stdout and stderr. */
  output(): string {
    return this.tail;
  }

  private async drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) this.tail = (this.tail + decoder.decode(chunk, { stream: true })).slice(-OUTPUT_TAIL_BYTES);
    } catch {
      // The pipe breaks when the process is killed; nothing to report.
    }
  }

  private async waitReady(proc: Subprocess): Promise<void> {
    const limit = this.spec.readyTimeoutMs ?? READY_TIMEOUT_MS;
    const deadline = Date.now() + limit;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        await Bun.sleep(50); // let the pipes flush the last words
        throw new Error(`${this.spec.name} exited (${proc.exitCode ?? proc.signalCode}) before answering on port ${this.port}:\n${this.tail}`);
      }
      if ((await this.spec.answers(this.port).catch(() => false)) && proc.exitCode === null) return;
      await Bun.sleep(50);
    }
    throw new Error(`${this.spec.name} not ready on port ${this.port} after ${limit} ms; output:\n${this.tail}`);
  }
}

/**
 * A started server with a fresh temporary data directory (under
 * `parentDir`). The port is only reserved until the probe socket closes; if
 * another process takes it first, the server dies at once and another port
 * is tried (three in all).
 */
export async function startChild(spec: ChildSpec, opts: { parentDir?: string } = {}): Promise<ChildServer> {
  const dataDir = await mkdtemp(join(opts.parentDir ?? tmpdir(), `${spec.name}-`));
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const child = new ChildServer(spec, await freePort(), dataDir);
    try {
      await child.start();
      return child;
    } catch (err) {
      lastError = err;
      await child.stop();
    }
  }
  await rm(dataDir, { recursive: true, force: true });
  throw lastError;
}
