/** Signed-mode helpers for e2e tests: key files, what the bucket's records map, planting records as a writer without the key. */
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { tempDir } from "./paths.ts";
import { listKeys, readKey, writeKey } from "./bucket.ts";
import { s3Client, type S3Server } from "./s3server.ts";

/** A key file (mode 0600) of `lines` ("<id> <secret> [namespaces]"). */
export function keyFile(...lines: string[]): string {
  const p = join(tempDir("keys"), "signing-keys");
  writeFileSync(p, lines.map((l) => `${l}\n`).join(""));
  chmodSync(p, 0o600);
  return p;
}

/** A secret for a key id (deterministic, long enough). */
export const secretOf = (id: string) => `${id}-secret-value-0123456789`;

export interface AxEntry { key: string; actionId: string; outputId: string; size: number; line: string }

/** Every ax record under `prefix` ("" for the root): its action, output, size and first line. */
export async function axEntries(s3: S3Server, bucket: string, prefix = ""): Promise<AxEntry[]> {
  const base = `${prefix ? `${prefix}/` : ""}ax/`;
  const keys = (await listKeys(s3, bucket)).filter((k) => k.startsWith(base));
  return Promise.all(keys.map(async (key) => {
    const bytes = await readKey(s3, bucket, key);
    const line = new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(10)));
    const [outputId, , size] = line.split(" ");
    return { key, actionId: key.split("/").at(-1)!, outputId: outputId!, size: Number(size), line };
  }));
}

/**
 * What a writer without the key does: every action's ax and action records
 * rewritten to map it to the next action's (existing, valid, different) output, the ax
 * first line made by `line` (its output id, nanos and size given; no inline
 * bytes, so the output is fetched and verified as usual); the manifest index
 * removed (so runners look every action up, and prefetch does not decide).
 * Returns the planted mapping, action -> output.
 */
export async function plantRotated(s3: S3Server, bucket: string, entries: AxEntry[], line: (e: AxEntry, outputId: string, size: number, nanos: string) => string): Promise<Map<string, string>> {
  const planted = new Map<string, string>();
  const nanos = `${BigInt(Date.now()) * 1_000_000n}`;
  await Promise.all(entries.map(async (e, i) => {
    // The next entry with another output (many actions share the empty output).
    let j = (i + 1) % entries.length;
    while (entries[j]!.outputId === e.outputId && j !== i) j = (j + 1) % entries.length;
    const to = entries[j]!;
    planted.set(e.actionId, to.outputId);
    await writeKey(s3, bucket, e.key, new TextEncoder().encode(`${line(e, to.outputId, to.size, nanos)}\n`));
    await writeKey(s3, bucket, e.key.replace(/(^|\/)ax\//, "$1action/"), new TextEncoder().encode(`${to.outputId} ${nanos}`));
  }));
  await deleteUnder(s3, bucket, "manifest-index/");
  return planted;
}

/** Deletes every key containing `part` (e.g. "manifest-index/"). */
export async function deleteUnder(s3: S3Server, bucket: string, part: string): Promise<void> {
  const client = s3Client(s3);
  const doomed = (await listKeys(s3, bucket)).filter((k) => k.includes(part));
  await Promise.all(doomed.map((Key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
}

/** The local store's action -> output mapping (v1/a/<xx>/<action>: "<output> <size> <nanos>"). */
export function localMappings(cacheDir: string): Map<string, string> {
  const out = new Map<string, string>();
  const base = join(cacheDir, "v1", "a");
  if (!existsSync(base)) return out;
  for (const shard of readdirSync(base)) {
    for (const name of readdirSync(join(base, shard))) {
      if (!name.endsWith(".tmp")) out.set(name, readFileSync(join(base, shard, name), "latin1").split(" ")[0]!);
    }
  }
  return out;
}
