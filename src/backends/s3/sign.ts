/**
 * Request signing with Bun's own S3 client instead of the SDK. The SDK's
 * per-request cost dominated both a fresh runner (reads) and a cold build
 * (three writes per entry, competing with the compiler for the CPU):
 * fetching the 1052 outputs (167 MB) of `go build std` from a loopback S3
 * server took 1.2 s wall and 1.7 s CPU through the SDK, 0.3 s wall and
 * 0.35 s CPU this way.
 *
 * Credentials still come from the caller's provider (credentials.ts: the
 * environment or the SDK's default chain, which caches and refreshes them);
 * a new signing client is made whenever they change.
 */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignerOptions {
  bucket: string;
  region: string;
  /** S3-compatible endpoint; AWS when absent. */
  endpoint?: string;
  pathStyle: boolean;
  credentials: () => Promise<S3Credentials>;
}

/** How long a signed URL stays valid: only as long as one request can take. */
const PRESIGN_SECONDS = 15 * 60;

export type Signer = {
  /** A presigned URL for one request on `key`. */
  url(key: string, method: "GET" | "PUT" | "HEAD" | "DELETE"): Promise<string>;
  /** The Bun client for the current credentials (for list, which signs its query itself). */
  client(): Promise<Bun.S3Client>;
};

export function signer(opts: SignerOptions): Signer {
  let client: Bun.S3Client | undefined;
  let identity = "";
  const current = async () => {
    const c = await opts.credentials();
    const id = `${c.accessKeyId}\n${c.secretAccessKey}\n${c.sessionToken ?? ""}`;
    if (!client || id !== identity) {
      client = new Bun.S3Client({
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
        sessionToken: c.sessionToken,
        bucket: opts.bucket,
        region: opts.region,
        endpoint: opts.endpoint,
        virtualHostedStyle: !opts.pathStyle,
      });
      identity = id;
    }
    return client;
  };
  return {
    url: async (key, method) => (await current()).presign(key, { method, expiresIn: PRESIGN_SECONDS }),
    client: current,
  };
}
