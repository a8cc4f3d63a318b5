/**
 * One shape for every remote backend's test server, so that an end-to-end
 * suite runs unchanged against each (test/e2e/backends.test.ts): versitygw
 * for S3, fake-gcs-server for Google Cloud Storage, Azurite for Azure Blob.
 */
import { bucketName, listKeys as s3ListKeys, pluginS3Env, readKey as s3ReadKey, s3Flags, writeKey as s3WriteKey } from "./bucket.ts";
import { startS3Server } from "./s3server.ts";
import { startGcsServer } from "./gcs-server.ts";
import { startAzurite } from "./azurite.ts";
import { tempDir } from "./paths.ts";

export interface BackendServer {
  /** "s3", "gcs" or "azure": the tag the plugin's messages carry. */
  readonly name: string;
  /** Creates an empty bucket (container); returns its name. */
  createBucket(label: string): Promise<string>;
  /** Plugin flags for the bucket (the --bucket URL and the backend's own flags). */
  flags(bucket: string): string[];
  /** The --bucket URL as the plugin names it in messages. */
  url(bucket: string): string;
  /** The plugin's environment: working credentials and emulator addresses. */
  env(): Record<string, string>;
  /**
   * An environment whose credential the backend refuses (or that has none),
   * and what the plugin's one-line message must then say.
   */
  badCredentials(): { env: Record<string, string>; flags?: string[]; says: RegExp[] };
  listKeys(bucket: string): Promise<string[]>;
  readKey(bucket: string, key: string): Promise<Uint8Array>;
  writeKey(bucket: string, key: string, bytes: Uint8Array): Promise<void>;
  destroy(): Promise<void>;
}

/** Variables that would let a backend find credentials other than the ones a test gives. */
const CLEAN = { AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_PROFILE: "", STORAGE_EMULATOR_HOST: "", GOOGLE_APPLICATION_CREDENTIALS: "", AZURE_STORAGE_CONNECTION_STRING: "" };

async function s3Backend(): Promise<BackendServer> {
  const s3 = await startS3Server();
  return {
    name: "s3",
    async createBucket(label) {
      const b = bucketName(label);
      await s3.createBucket(b);
      return b;
    },
    flags: (b) => s3Flags(s3, b),
    url: (b) => `s3://${b}`,
    env: () => ({ ...CLEAN, ...pluginS3Env(s3) }),
    badCredentials: () => ({ env: { ...CLEAN, ...pluginS3Env(s3), AWS_SECRET_ACCESS_KEY: "wrong-secret" }, says: [/\[s3\] read s3:\/\/[a-z0-9-]+\//, /SignatureDoesNotMatch/, /AWS_ACCESS_KEY_ID/] }),
    listKeys: (b) => s3ListKeys(s3, b),
    readKey: (b, k) => s3ReadKey(s3, b, k),
    writeKey: (b, k, bytes) => s3WriteKey(s3, b, k, bytes),
    destroy: () => s3.destroy(),
  };
}

async function gcsBackend(): Promise<BackendServer> {
  const gcs = await startGcsServer();
  return {
    name: "gcs",
    async createBucket(label) {
      const b = bucketName(label);
      await gcs.createBucket(b);
      return b;
    },
    flags: (b) => ["--bucket", gcs.bucketUrl(b)],
    url: (b) => gcs.bucketUrl(b),
    env: () => ({ ...CLEAN, ...gcs.env() }),
    // fake-gcs-server checks no token: the credential that is missing is found missing on our side, where it really is.
    badCredentials: () => {
      const home = tempDir("no-gcloud");
      return {
        env: { ...CLEAN, GOCACHE_GCS_ENDPOINT: gcs.endpoint, HOME: home, CLOUDSDK_CONFIG: home, GCE_METADATA_HOST: "127.0.0.1:9" },
        says: [/\[gcs\] read gs:\/\/[a-z0-9-]+\//, /no credentials found/, /GOOGLE_APPLICATION_CREDENTIALS/],
      };
    },
    listKeys: (b) => gcs.listKeys(b),
    readKey: async (b, k) => (await gcs.readKey(b, k)) ?? new Uint8Array(0),
    writeKey: (b, k, bytes) => gcs.writeKey(b, k, bytes),
    destroy: () => gcs.destroy(),
  };
}

async function azureBackend(): Promise<BackendServer> {
  const az = await startAzurite();
  const { wrongKey } = await import("./azurite.ts");
  return {
    name: "azure",
    async createBucket(label) {
      const c = bucketName(label).replace(/[^a-z0-9-]/g, "-").slice(0, 63);
      await az.createContainer(c);
      return c;
    },
    flags: (c) => ["--bucket", az.bucketUrl(c)],
    url: (c) => az.bucketUrl(c),
    env: () => ({ ...CLEAN, ...az.env() }),
    badCredentials: () => ({ env: { ...CLEAN, AZURE_STORAGE_CONNECTION_STRING: az.connectionString({ key: wrongKey() }) }, says: [/\[azure\] read az:\/\/devstoreaccount1\/[a-z0-9-]+\//, /HTTP 403/, /credential: /] }),
    listKeys: (c) => az.listKeys(c),
    readKey: async (c, k) => (await az.readKey(c, k)) ?? new Uint8Array(0),
    writeKey: (c, k, bytes) => az.writeKey(c, k, bytes),
    destroy: () => az.destroy(),
  };
}

/** Every backend, by name: a new backend is tested end to end by adding one line. */
export const BACKENDS: Array<[string, () => Promise<BackendServer>]> = [
  ["s3 (versitygw)", s3Backend],
  ["gcs (fake-gcs-server)", gcsBackend],
  ["azure (Azurite)", azureBackend],
];
