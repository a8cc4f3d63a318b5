/**
 * Azurite (the `azurite` npm package, a devDependency) as a real Azure Blob
 * endpoint for tests, and the blob-port contract harness over it.
 *
 * Each server listens on its own free 127.0.0.1 port and keeps its data in
 * its own temporary directory. It serves the well-known development account
 * only, path-style: `http://127.0.0.1:PORT/devstoreaccount1/CONTAINER/KEY`.
 * The helpers below (containers, raw reads and writes) sign their own
 * requests with the account key, beside the store under test.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openBlobStore } from "../../src/backends/open.ts";
import { DEV_ACCOUNT, DEV_KEY } from "../../src/backends/azure/connection.ts";
import { sharedKeySigner } from "../../src/backends/azure/sharedkey.ts";
import { API_VERSION } from "../../src/backends/azure/store.ts";
import type { BlobHarness } from "../blob/contract.ts";
import { startChild, type ChildServer, type ChildSpec } from "./child-server.ts";
import { ROOT } from "./paths.ts";

export const AZURITE_BIN = join(ROOT, "node_modules", ".bin", "azurite-blob");

export interface AzuriteServer {
  /** `http://127.0.0.1:PORT/devstoreaccount1`, no trailing slash. */
  readonly endpoint: string;
  readonly port: number;
  readonly account: string;
  /** The development account's key (Azurite's README; public). */
  readonly key: string;
  readonly dataDir: string;
  /** A connection string for this server; `key` replaces the account key (a wrong one is refused). */
  connectionString(opts?: { key?: string }): string;
  /** An account SAS for the Blob service (read, write, delete, list, add, create; one hour), without "?". */
  accountSas(): string;
  /** AZURE_STORAGE_CONNECTION_STRING for this server, and nothing else. */
  env(): Record<string, string>;
  /** `az://devstoreaccount1/CONTAINER`. */
  bucketUrl(container: string): string;
  createContainer(name: string): Promise<void>;
  /** Every blob name in the container, in order. */
  listKeys(container: string): Promise<string[]>;
  readKey(container: string, key: string): Promise<Uint8Array | undefined>;
  writeKey(container: string, key: string, bytes: Uint8Array): Promise<void>;
  /** Stops the server (SIGTERM, SIGKILL after 8 s) and waits for it to exit; data stays. Safe to call twice. */
  stop(): Promise<void>;
  /** stop(), then removes dataDir. */
  destroy(): Promise<void>;
  /** The last few KB of the server's stdout and stderr. */
  output(): string;
}

/** Starts Azurite on a free port; resolves once it answers. */
export async function startAzurite(opts: { parentDir?: string } = {}): Promise<AzuriteServer> {
  if (!existsSync(AZURITE_BIN)) throw new Error(`Azurite not found at ${AZURITE_BIN}; run npm ci (azurite is a devDependency)`);
  return new Azurite(await startChild(AZURITE, opts));
}

const AZURITE: ChildSpec = {
  name: "azurite-blob",
  readyTimeoutMs: 20_000, // a Node program: slower to start than the Go servers
  // --skipApiVersionCheck: a service version newer than this Azurite knows is still served (the store's is fixed).
  argv: (port, dataDir) => [AZURITE_BIN, "--blobHost", "127.0.0.1", "--blobPort", String(port), "--location", dataDir, "--silent", "--skipApiVersionCheck"],
  // An unsigned request is refused, by Azurite (its Server header): not by another process on the port.
  answers: async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/${DEV_ACCOUNT}?comp=list`, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer().catch(() => {});
    return res.headers.get("server")?.startsWith("Azurite-Blob/") ?? false;
  },
};

class Azurite implements AzuriteServer {
  readonly endpoint: string;
  readonly port: number;
  readonly dataDir: string;
  readonly account = DEV_ACCOUNT;
  readonly key = DEV_KEY;
  private readonly sign = sharedKeySigner(DEV_ACCOUNT, DEV_KEY);

  constructor(private readonly child: ChildServer) {
    this.port = child.port;
    this.dataDir = child.dataDir;
    this.endpoint = `http://127.0.0.1:${child.port}/${DEV_ACCOUNT}`;
  }

  connectionString(opts: { key?: string } = {}): string {
    return `DefaultEndpointsProtocol=http;AccountName=${this.account};AccountKey=${opts.key ?? this.key};BlobEndpoint=${this.endpoint};`;
  }
  accountSas(): string {
    const expiry = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
    const f = { sv: "2020-12-06", ss: "b", srt: "sco", sp: "rwdlac", se: expiry, spr: "https,http" };
    // The account SAS string to sign (versions from 2020-12-06): the fields in this order, an empty start, IP and encryption scope.
    const toSign = [this.account, f.sp, f.ss, f.srt, "", f.se, "", f.spr, f.sv, "", ""].join("\n");
    const sig = new Bun.CryptoHasher("sha256", Uint8Array.fromBase64(this.key)).update(toSign).digest("base64");
    return new URLSearchParams({ ...f, sig }).toString();
  }
  env(): Record<string, string> { return { AZURE_STORAGE_CONNECTION_STRING: this.connectionString() }; }
  bucketUrl(container: string): string { return `az://${this.account}/${container}`; }

  /** A request signed with the account key; throws unless the status is one of `ok`. */
  private async signed(method: string, path: string, ok: number[], body?: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
    const url = new URL(`${this.endpoint}/${path}`);
    const h: Record<string, string> = { "x-ms-version": API_VERSION, "x-ms-date": new Date().toUTCString(), ...headers };
    h.Authorization = this.sign({ method, url, headers: h, contentLength: body?.length ?? 0 });
    const res = await fetch(url, { method, headers: h, body, signal: AbortSignal.timeout(30_000) });
    if (!ok.includes(res.status)) throw new Error(`azurite ${method} ${path}: HTTP ${res.status} ${res.headers.get("x-ms-error-code") ?? ""}`);
    return res;
  }

  async createContainer(name: string): Promise<void> { await (await this.signed("PUT", `${name}?restype=container`, [201])).arrayBuffer(); }
  async listKeys(container: string): Promise<string[]> {
    const xml = await (await this.signed("GET", `${container}?restype=container&comp=list&maxresults=5000`, [200])).text();
    return [...xml.matchAll(/<Name>([^<]*)<\/Name>/g)].map((m) => m[1]!);
  }
  async readKey(container: string, key: string): Promise<Uint8Array | undefined> {
    const res = await this.signed("GET", `${container}/${key}`, [200, 404]);
    const bytes = new Uint8Array(await res.arrayBuffer());
    return res.status === 200 ? bytes : undefined;
  }
  async writeKey(container: string, key: string, bytes: Uint8Array): Promise<void> {
    await (await this.signed("PUT", `${container}/${key}`, [201], bytes, { "x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream" })).arrayBuffer();
  }

  stop(): Promise<void> { return this.child.stop(); }
  /** SIGKILL for destroy: Azurite's orderly close waits out idle keep-alive connections (5 s), and the data goes anyway. */
  destroy(): Promise<void> { return this.child.destroy("SIGKILL"); }
  output(): string { return this.child.output(); }
}

/** A random 64-byte key, base64: well-formed, and not the account's. */
export function wrongKey(): string {
  return crypto.getRandomValues(new Uint8Array(64)).toBase64();
}

/** The contract harness: one Azurite, a fresh container. */
export async function azureHarness(): Promise<BlobHarness> {
  const server = await startAzurite();
  const container = `c-${crypto.randomUUID().slice(0, 8)}`;
  await server.createContainer(container);
  const open = (c: string, env: Record<string, string>, listPageSize?: number) =>
    openBlobStore({ backend: "azure", account: server.account, container: c }, { env, listPageSize, timeoutMs: 60_000 });
  return {
    open: (o = {}) => open(container, server.env(), o.listPageSize),
    openMissingBucket: () => open(`missing-${crypto.randomUUID().slice(0, 8)}`, server.env()),
    openWrongCredentials: () => open(container, { AZURE_STORAGE_CONNECTION_STRING: server.connectionString({ key: wrongKey() }) }),
    tamper: (key, bytes) => server.writeKey(container, key, bytes),
    stop: () => server.destroy(),
  };
}
