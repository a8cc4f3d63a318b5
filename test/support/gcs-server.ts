/**
 * A Google Cloud Storage emulator (fake-gcs-server, filesystem backend) for
 * tests, the blob contract's harness on it, and loopback stand-ins for
 * Google's token endpoints.
 *
 * The binary is not vendored: build it once with `scripts/install-gcs-server.sh`
 * (it lands in `<repo>/.tools/bin/fake-gcs-server`, pinned to the version in that script).
 *
 * Each server listens on its own free 127.0.0.1 port over plain http and
 * keeps its buckets in its own temporary directory (a sub-directory is a
 * bucket). It checks no credentials at all: clients reach it through
 * STORAGE_EMULATOR_HOST, which also tells them not to authenticate.
 */
import type { Server } from "bun";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openBlobStore } from "../../src/backends/open.ts";
import type { BlobHarness } from "../blob/contract.ts";
import { startChild, type ChildServer, type ChildSpec } from "./child-server.ts";
import { TOOLS_BIN } from "./paths.ts";

/** Where `scripts/install-gcs-server.sh` puts the binary. */
export const FAKE_GCS_BIN = join(TOOLS_BIN, "fake-gcs-server");


export interface GcsServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly endpoint: string;
  readonly port: number;
  /** Backing directory; each bucket is a sub-directory. */
  readonly dataDir: string;
  /** Creates an empty bucket through the emulator's API; throws if it answers anything but 200. */
  createBucket(name: string): Promise<void>;
  /** Environment that points the code under test at this server (STORAGE_EMULATOR_HOST). */
  env(): Record<string, string>;
  bucketUrl(name: string): string;
  /** Every key in the bucket, in the emulator's (lexical) order, read through its API directly. */
  listKeys(bucket: string): Promise<string[]>;
  /** A key's bytes through the emulator's API directly; undefined on 404. */
  readKey(bucket: string, key: string): Promise<Uint8Array | undefined>;
  /** Writes a key through the emulator's API directly (not through the backend under test). */
  writeKey(bucket: string, key: string, bytes: Uint8Array): Promise<void>;
  /** Kill the server and wait for it to exit. Data stays. Safe to call twice. */
  stop(): Promise<void>;
  /** stop(), then delete dataDir. */
  destroy(): Promise<void>;
  /** Last few KB of the server's stdout+stderr. */
  output(): string;
}

/**
 * Start fake-gcs-server on a fresh port with an empty temporary data
 * directory, and resolve once it answers its API. Throws if the binary is
 * missing (the message says to run scripts/install-gcs-server.sh) or if it
 * is not ready within 15 s (the message includes the server's output).
 */
export async function startGcsServer(opts: { parentDir?: string } = {}): Promise<GcsServer> {
  if (!existsSync(FAKE_GCS_BIN)) {
    throw new Error(`GCS test server binary not found at ${FAKE_GCS_BIN}; run scripts/install-gcs-server.sh (needs Go) first`);
  }
  return new FakeGcsServer(await startChild(FAKE_GCS, opts));
}

const FAKE_GCS: ChildSpec = {
  name: "fake-gcs-server",
  argv: (port, dataDir) => [FAKE_GCS_BIN, "-scheme", "http", "-host", "127.0.0.1", "-port", String(port), "-backend", "filesystem", "-filesystem-root", dataDir, "-public-host", `127.0.0.1:${port}`],
  // A storage#buckets answer: fake-gcs-server itself, not a foreign process on the port.
  answers: async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/storage/v1/b`, { signal: AbortSignal.timeout(1_000) });
    const body = (await res.json().catch(() => ({}))) as { kind?: string };
    return res.status === 200 && body.kind === "storage#buckets";
  },
};

class FakeGcsServer implements GcsServer {
  readonly endpoint: string;
  readonly port: number;
  readonly dataDir: string;

  constructor(private readonly child: ChildServer) {
    this.port = child.port;
    this.dataDir = child.dataDir;
    this.endpoint = `http://127.0.0.1:${child.port}`;
  }

  stop(): Promise<void> { return this.child.stop(); }
  destroy(): Promise<void> { return this.child.destroy(); }
  output(): string { return this.child.output(); }

  async createBucket(name: string): Promise<void> {
    const res = await fetch(`${this.endpoint}/storage/v1/b`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name }) });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`fake-gcs-server: create bucket ${name}: HTTP ${res.status} ${body.slice(0, 300)}`);
  }

  env(): Record<string, string> {
    return { STORAGE_EMULATOR_HOST: this.endpoint };
  }

  bucketUrl(name: string): string {
    return `gs://${name}`;
  }

  async listKeys(bucket: string): Promise<string[]> {
    const keys: string[] = [];
    let token = "";
    do {
      const res = await fetch(`${this.endpoint}/storage/v1/b/${encodeURIComponent(bucket)}/o?${new URLSearchParams(token ? { pageToken: token } : {})}`);
      if (res.status !== 200) throw new Error(`fake-gcs-server: list ${bucket}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
      const page = (await res.json()) as { items?: { name: string }[]; nextPageToken?: string };
      for (const item of page.items ?? []) keys.push(item.name);
      token = page.nextPageToken ?? "";
    } while (token);
    return keys;
  }

  async readKey(bucket: string, key: string): Promise<Uint8Array | undefined> {
    const res = await fetch(`${this.endpoint}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(key)}?alt=media`);
    if (res.status === 404) return void (await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`fake-gcs-server: read ${bucket}/${key}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  async writeKey(bucket: string, key: string, bytes: Uint8Array): Promise<void> {
    const url = `${this.endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=media&name=${encodeURIComponent(key)}`;
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: bytes });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`fake-gcs-server: write ${bucket}/${key}: HTTP ${res.status} ${body.slice(0, 300)}`);
  }
}

/** A fresh RSA key pair and the service-account file text for it. */
export async function serviceAccount(opts: { tokenUri: string; clientEmail?: string }): Promise<{ json: string; pem: string; publicKey: CryptoKey }> {
  const pair = (await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", pair.privateKey)).toString("base64");
  const pem = `-----BEGIN PRIVATE KEY-----\n${der.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
  const json = JSON.stringify({
    type: "service_account",
    project_id: "test-project",
    private_key_id: "0123456789abcdef0123456789abcdef01234567",
    private_key: pem,
    client_email: opts.clientEmail ?? "cache@test-project.iam.gserviceaccount.com",
    client_id: "123456789",
    token_uri: opts.tokenUri,
  });
  return { json, pem, publicKey: pair.publicKey };
}

/** A request a stand-in received, its body already read. */
export interface SeenRequest { method: string; url: string; path: string; headers: Headers; body: string }

/**
 * A loopback stand-in for one of Google's token endpoints (oauth2, STS, IAM
 * credentials, the metadata server): `answer` decides each response; every
 * request is recorded in `seen`.
 */
export function tokenStandIn(answer: (req: SeenRequest) => Response | Promise<Response>): { url: string; seen: SeenRequest[]; stop(): void } {
  const seen: SeenRequest[] = [];
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const r = { method: req.method, url: req.url, path: new URL(req.url).pathname, headers: req.headers, body: await req.text() };
      seen.push(r);
      return answer(r);
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, stop: () => void server.stop(true) };
}

/**
 * The blob contract's harness on a fresh fake-gcs-server, one fresh bucket.
 * fake-gcs-server accepts any token (or none), so refused credentials are
 * produced where a refusal really happens: the store is opened with
 * GOCACHE_GCS_ENDPOINT (the emulator, with authentication) and a
 * service-account file whose token_uri is a loopback stand-in for Google's
 * token endpoint that answers 400 invalid_grant, as Google's does for a
 * revoked or deleted key.
 */
export async function gcsHarness(): Promise<BlobHarness> {
  const server = await startGcsServer();
  const bucket = `contract-${crypto.randomUUID().slice(0, 8)}`;
  await server.createBucket(bucket);
  const cleanups: (() => unknown)[] = [];
  return {
    open: (opts = {}) => openBlobStore({ backend: "gcs", bucket }, { env: server.env(), listPageSize: opts.listPageSize, timeoutMs: 60_000 }),
    openMissingBucket: () => openBlobStore({ backend: "gcs", bucket: `${bucket}-missing` }, { env: server.env(), timeoutMs: 10_000 }),
    async openWrongCredentials() {
      const refuser = tokenStandIn(() => Response.json({ error: "invalid_grant", error_description: "Invalid JWT Signature." }, { status: 400 }));
      const dir = await mkdtemp(join(tmpdir(), "gcs-wrong-creds-"));
      cleanups.push(refuser.stop, () => rm(dir, { recursive: true, force: true }));
      const file = join(dir, "service-account.json");
      await writeFile(file, (await serviceAccount({ tokenUri: `${refuser.url}/token` })).json);
      const env = { GOCACHE_GCS_ENDPOINT: server.endpoint, GOOGLE_APPLICATION_CREDENTIALS: file, HOME: dir };
      return openBlobStore({ backend: "gcs", bucket }, { env, timeoutMs: 10_000 });
    },
    tamper: (key, bytes) => server.writeKey(bucket, key, bytes),
    async stop() {
      for (const c of cleanups) await c();
      await server.destroy();
    },
  };
}
