/** Every Cache implementation against one contract (cache-contract.ts). */
import { cacheContract } from "./cache-contract.ts";
import { LocalStore } from "../../src/store/local.ts";
import { openRemoteTier } from "../../src/remote/open.ts";
import { createLogger } from "../../src/log.ts";
import { startS3Server } from "../support/s3server.ts";
import { bucketName } from "../support/bucket.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

const log = createLogger({ verbose: false, debug: false, write: () => {} });

cacheContract("local", async () => ({
  open: async () => new LocalStore({ dir: tempDir("cache-contract") }),
  stop: async () => cleanupTempDirs(),
}));

cacheContract("tiered (local + S3 on versitygw)", async () => {
  const s3 = await startS3Server();
  const bucket = bucketName("cache-contract");
  await s3.createBucket(bucket);
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });
  return {
    open: async () => openRemoteTier({
      local: new LocalStore({ dir: tempDir("cache-contract") }),
      blob: { backend: "s3", bucket, endpoint: s3.endpoint, pathStyle: true, region: "us-east-1" },
      prefix: "contract",
      readOnly: false,
      concurrency: 4,
      uploadConcurrency: 4,
      minUploadSize: 0,
      useIntervalMs: 60_000,
      uploadTimeoutMs: 30_000,
      fsync: false,
      compression: "zstd",
      log,
    }),
    stop: async () => {
      await s3.destroy();
      cleanupTempDirs();
    },
  };
});
