/**
 * A real S3-compatible server (versitygw, posix backend) for tests.
 *
 * The binary is not vendored: build it once with `scripts/install-s3-server.sh`
 * (it lands in `<repo>/.tools/bin/versitygw`, pinned to the version in that script).
 *
 * Each server listens on its own free 127.0.0.1 port, keeps its buckets in its own
 * temporary directory and accepts a single root credential. Only path-style
 * addressing works (no virtual-host buckets), so clients need `forcePathStyle: true`.
 */
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import type { Subprocess } from "bun";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./net.ts";

const REPO_ROOT = resolve(import.meta.dir, "../..");
/** Where `scripts/install-s3-server.sh` puts the binary. */
export const VERSITYGW_BIN = join(REPO_ROOT, ".tools", "bin", "versitygw");

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
/** How much of the server's combined stdout/stderr is kept for error messages. */
const OUTPUT_TAIL_BYTES = 8 * 1024;

export interface S3Server {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly endpoint: string;
  readonly port: number;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Always "us-east-1". */
  readonly region: string;
  /** Backing directory; each bucket is a sub-directory, each object a file. */
  readonly dataDir: string;
  /** Kill the server and wait for it to exit. Data stays. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * Start again after stop(), on the same port and dataDir (so endpoint and all
   * stored objects survive). Resolves once the server answers HTTP. No-op if running.
   */
  start(): Promise<void>;
  /** stop(), then delete dataDir. The server cannot be started again. */
  destroy(): Promise<void>;
  /** Create a bucket (path-style). Throws the SDK error if it exists already. */
  createBucket(name: string): Promise<void>;
  /**
   * Environment variables that point an AWS SDK (or the code under test) at this
   * server: credentials, region, endpoint, checksum mode, and no IMDS / profile
   * lookups. Path-style addressing still has to be enabled in code.
   */
  env(): Record<string, string>;
  /** Last few KB of the server's stdout+stderr (request log, errors). */
  output(): string;
}

/**
 * Start a versitygw server on a fresh port with an empty temporary data directory
 * (under `parentDir`, default the system's temporary directory),
 * and resolve once it accepts HTTP requests. Throws if the binary is missing
 * (message says to run scripts/install-s3-server.sh) or if it is not ready
 * within 15 s (message includes the server's output).
 */
export async function startS3Server(opts: { parentDir?: string } = {}): Promise<S3Server> {
  if (!existsSync(VERSITYGW_BIN)) {
    throw new Error(
      `S3 test server binary not found at ${VERSITYGW_BIN}; run scripts/install-s3-server.sh (needs Go) first`,
    );
  }
  const dataDir = await mkdtemp(join(opts.parentDir ?? tmpdir(), "s3server-"));
  // The port is only reserved until we close the probe socket; if another process
  // grabs it before versitygw binds, the server dies at once and we try another.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = new VersityServer(await freePort(), dataDir);
    try {
      await server.start();
      return server;
    } catch (err) {
      lastError = err;
      await server.stop();
    }
  }
  await rm(dataDir, { recursive: true, force: true });
  throw lastError;
}

/** An S3Client configured for `server`: path-style, its credentials, checksums only when required. */
export function s3Client(server: S3Server): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** Child processes still running, killed if the test process exits without stop(). */
const live = new Set<Subprocess>();
process.on("exit", () => {
  for (const proc of live) proc.kill("SIGKILL");
});

class VersityServer implements S3Server {
  readonly endpoint: string;
  readonly accessKeyId = "testaccesskey";
  readonly secretAccessKey = "testsecretkey";
  readonly region = "us-east-1";
  private proc: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  private tail = "";
  private destroyed = false;

  constructor(
    readonly port: number,
    readonly dataDir: string,
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    if (this.destroyed) throw new Error("S3 test server was destroyed");
    if (this.proc) return;
    const proc = Bun.spawn(
      [
        VERSITYGW_BIN,
        "--access", this.accessKeyId,
        "--secret", this.secretAccessKey,
        "--region", this.region,
        "--port", `127.0.0.1:${this.port}`,
        "posix", this.dataDir,
      ],
      {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        // A clean environment: versitygw reads many ROOT_* / VGW_* variables.
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/" },
      },
    );
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

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    proc.kill("SIGTERM");
    const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(STOP_TIMEOUT_MS).then(() => false)]);
    if (!exited) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    live.delete(proc);
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  async createBucket(name: string): Promise<void> {
    const client = s3Client(this);
    try {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    } finally {
      client.destroy();
    }
  }

  env(): Record<string, string> {
    return {
      AWS_ACCESS_KEY_ID: this.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.secretAccessKey,
      AWS_REGION: this.region,
      AWS_DEFAULT_REGION: this.region,
      AWS_ENDPOINT_URL: this.endpoint,
      AWS_ENDPOINT_URL_S3: this.endpoint,
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
      AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
      // Keep the host's ~/.aws profiles out of the picture.
      AWS_CONFIG_FILE: "/nonexistent/aws-config",
      AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/aws-credentials",
    };
  }

  output(): string {
    return this.tail;
  }

  private async drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        this.tail = (this.tail + decoder.decode(chunk, { stream: true })).slice(-OUTPUT_TAIL_BYTES);
      }
    } catch {
      // The pipe breaks when the process is killed; nothing to report.
    }
  }

  /**
   * Poll until the server answers HTTP (an unsigned GET / gets 403, which is fine).
   * The response must come from versitygw and our process must still be alive, so a
   * foreign process that grabbed the port is not mistaken for ours.
   */
  private async waitReady(proc: Subprocess): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        await Bun.sleep(50); // let the pipes flush the last words
        throw new Error(
          `versitygw exited (${proc.exitCode ?? proc.signalCode}) before becoming ready on ${this.endpoint}:\n${this.tail}`,
        );
      }
      try {
        const res = await fetch(`${this.endpoint}/`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        if (res.headers.get("server") === "VERSITYGW" && proc.exitCode === null && proc.signalCode === null) return;
      } catch {
        // not listening yet
      }
      await Bun.sleep(50);
    }
    throw new Error(`versitygw not ready on ${this.endpoint} after ${READY_TIMEOUT_MS} ms; output:\n${this.tail}`);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
