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
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startChild, type ChildServer, type ChildSpec } from "./child-server.ts";
import { TOOLS_BIN } from "./paths.ts";

/** Where `scripts/install-s3-server.sh` puts the binary. */
export const VERSITYGW_BIN = join(TOOLS_BIN, "versitygw");


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
  return new VersityServer(await startChild(VERSITYGW, opts));
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

const ACCESS_KEY = "testaccesskey";
const SECRET_KEY = "testsecretkey";

const VERSITYGW: ChildSpec = {
  name: "versitygw",
  argv: (port, dataDir) => [VERSITYGW_BIN, "--access", ACCESS_KEY, "--secret", SECRET_KEY, "--region", "us-east-1", "--port", `127.0.0.1:${port}`, "posix", dataDir],
  // An unsigned GET / is refused (403) by versitygw itself: its Server header says so.
  answers: async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.headers.get("server") === "VERSITYGW";
  },
};

class VersityServer implements S3Server {
  readonly endpoint: string;
  readonly port: number;
  readonly dataDir: string;
  readonly accessKeyId = ACCESS_KEY;
  readonly secretAccessKey = SECRET_KEY;
  readonly region = "us-east-1";

  constructor(private readonly child: ChildServer) {
    this.port = child.port;
    this.dataDir = child.dataDir;
    this.endpoint = `http://127.0.0.1:${child.port}`;
  }

  start(): Promise<void> { return this.child.start(); }
  stop(): Promise<void> { return this.child.stop(); }
  destroy(): Promise<void> { return this.child.destroy(); }
  output(): string { return this.child.output(); }

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
}
