/**
 * The remote tier: the bucket, in the layout of tailscale/go-cache-plugin so
 * both tools can share one bucket:
 *
 *   [<prefix>/]action/<first two hex>/<action id hex>   "<output id hex> <unix nanoseconds>"
 *   [<prefix>/]output/<first two hex>/<output id hex>   the raw output bytes
 *
 * A miss is undefined; any other failure throws with the subsystem, the key
 * and the SDK error as cause.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { isNotFound, isNotImplemented, isPreconditionFailed } from "../s3/client.ts";

export interface RemoteRecord {
  outputId: string;
  timeNanos: bigint;
}

export interface RemoteStoreOptions {
  client: S3Client;
  bucket: string;
  prefix: string;
}

export function actionKey(prefix: string, actionId: string): string {
  return `${prefix ? `${prefix}/` : ""}action/${actionId.slice(0, 2)}/${actionId}`;
}

export function outputKey(prefix: string, outputId: string): string {
  return `${prefix ? `${prefix}/` : ""}output/${outputId.slice(0, 2)}/${outputId}`;
}

export function encodeRemoteRecord(r: RemoteRecord): string {
  return `${r.outputId} ${r.timeNanos}`;
}

export function decodeRemoteRecord(text: string): RemoteRecord | undefined {
  const m = /^\s*([0-9a-f]{64})\s+(\d{1,20})\s*$/.exec(text);
  return m ? { outputId: m[1]!, timeNanos: BigInt(m[2]!) } : undefined;
}

export class RemoteStore {
  /** Whether the server honours If-None-Match: * (learned on first use). */
  private conditionalWrites = true;

  constructor(private readonly opts: RemoteStoreOptions) {}

  async getAction(actionId: string): Promise<RemoteRecord | undefined> {
    const text = await this.read(actionKey(this.opts.prefix, actionId), `read action ${actionId}`);
    if (text === undefined) return undefined;
    const record = decodeRemoteRecord(new TextDecoder().decode(text));
    if (!record) throw new Error(`[s3] read action ${actionId}: malformed record`);
    return record;
  }

  getObject(outputId: string): Promise<Uint8Array | undefined> {
    return this.read(outputKey(this.opts.prefix, outputId), `read output ${outputId}`);
  }

  async putAction(actionId: string, record: RemoteRecord): Promise<void> {
    await this.write(actionKey(this.opts.prefix, actionId), new TextEncoder().encode(encodeRemoteRecord(record)), `write action ${actionId}`);
  }

  /** Writes an object unless the bucket has it already; says which. */
  async putObject(outputId: string, bytes: Uint8Array): Promise<"written" | "exists"> {
    const key = outputKey(this.opts.prefix, outputId);
    const what = `write output ${outputId}`;
    if (this.conditionalWrites) {
      try {
        await this.write(key, bytes, what, true);
        return "written";
      } catch (err) {
        const cause = (err as Error).cause;
        if (isPreconditionFailed(cause)) return "exists";
        if (!isNotImplemented(cause)) throw err;
        this.conditionalWrites = false; // fall back to HEAD + PUT from now on
      }
    }
    try {
      await this.opts.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      return "exists";
    } catch (err) {
      if (!isNotFound(err)) throw new Error(`[s3] ${what}: check existing`, { cause: err });
    }
    await this.write(key, bytes, what);
    return "written";
  }

  async getAx(actionId: string): Promise<ReturnType<typeof decodeAx>> {
    const bytes = await this.read(axKey(this.opts.prefix, actionId), `read ax ${actionId}`);
    return bytes && decodeAx(bytes);
  }

  async putAx(entry: ManifestEntry, inline: Uint8Array | undefined): Promise<void> {
    await this.write(axKey(this.opts.prefix, entry.actionId), encodeAx(entry, inline), `write ax ${entry.actionId}`);
  }

  /** The key of the manifest indexed under this action, if any. */
  async getManifestPointer(actionId: string): Promise<string | undefined> {
    const bytes = await this.read(manifestIndexKey(this.opts.prefix, actionId), `read manifest index ${actionId}`);
    return bytes && new TextDecoder().decode(bytes).trim();
  }

  async getManifest(key: string): Promise<ManifestEntry[] | undefined> {
    if (!key.startsWith(manifestKey(this.opts.prefix, ""))) throw new Error(`[s3] manifest key ${key} is outside ${manifestKey(this.opts.prefix, "")}`);
    const bytes = await this.read(key, `read manifest ${key}`);
    return bytes && decodeManifest(bytes);
  }

  /** Writes a manifest and points the index of each of `firstGets` at it; returns its key. */
  async putManifest(entries: ManifestEntry[], firstGets: string[]): Promise<string> {
    const body = encodeManifest(entries);
    const k = manifestKey(this.opts.prefix, new Bun.CryptoHasher("sha256").update(body).digest("hex"));
    await this.write(k, body, `write manifest ${k}`);
    const pointer = new TextEncoder().encode(k);
    await Promise.all(firstGets.map((id) => this.write(manifestIndexKey(this.opts.prefix, id), pointer, `write manifest index ${id}`)));
    return k;
  }

  private async read(key: string, what: string): Promise<Uint8Array | undefined> {
    try {
      const out = await this.opts.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      return await out.Body!.transformToByteArray();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new Error(`[s3] ${what}`, { cause: err });
    }
  }

  private async write(key: string, body: Uint8Array, what: string, ifNoneMatch = false): Promise<void> {
    try {
      await this.opts.client.send(new PutObjectCommand({
        Bucket: this.opts.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        IfNoneMatch: ifNoneMatch ? "*" : undefined,
      }));
    } catch (err) {
      throw new Error(`[s3] ${what}`, { cause: err });
    }
  }
}

/**
 * Our own additions, under key prefixes tailscale/go-cache-plugin never uses
 * (its records above are still written, so it keeps working on our bucket):
 *
 *   [<prefix>/]ax/<xx>/<action id>          "<output id> <unix nanos> <size>\n" followed, when
 *                                           size <= INLINE_MAX, by the output bytes: one GET
 *                                           answers both the action and its output
 *   [<prefix>/]manifest/<sha256>            gzip of "<action id> <output id> <size> <unix nanos>\n"
 *                                           lines: every entry one session used
 *   [<prefix>/]manifest-index/<xx>/<action id>   key of the latest manifest whose session
 *                                           asked for this action among its first gets
 */
export const INLINE_MAX = 128 * 1024;

export interface ManifestEntry { actionId: string; outputId: string; size: number; timeNanos: bigint }

const key = (prefix: string, kind: string, id: string) => `${prefix ? `${prefix}/` : ""}${kind}/${id.slice(0, 2)}/${id}`;
export const axKey = (prefix: string, actionId: string) => key(prefix, "ax", actionId);
export const manifestIndexKey = (prefix: string, actionId: string) => key(prefix, "manifest-index", actionId);
export const manifestKey = (prefix: string, hash: string) => `${prefix ? `${prefix}/` : ""}manifest/${hash}`;

export function encodeAx(r: ManifestEntry, inline: Uint8Array | undefined): Uint8Array {
  const head = new TextEncoder().encode(`${r.outputId} ${r.timeNanos} ${r.size}\n`);
  if (!inline) return head;
  const out = new Uint8Array(head.length + inline.length);
  out.set(head);
  out.set(inline, head.length);
  return out;
}

/** The record and, when the bytes are inline, the output. Undefined when malformed. */
export function decodeAx(bytes: Uint8Array): { outputId: string; timeNanos: bigint; size: number; inline?: Uint8Array } | undefined {
  const nl = bytes.indexOf(10);
  if (nl < 0 || nl > 200) return undefined;
  const m = /^([0-9a-f]{64}) (\d{1,20}) (\d{1,15})$/.exec(new TextDecoder().decode(bytes.subarray(0, nl)));
  if (!m) return undefined;
  const size = Number(m[3]);
  const rest = bytes.subarray(nl + 1);
  return { outputId: m[1]!, timeNanos: BigInt(m[2]!), size, inline: rest.length === size && size > 0 ? rest : size === 0 ? rest : undefined };
}

export function encodeManifest(entries: ManifestEntry[]): Uint8Array {
  return Bun.gzipSync(new TextEncoder().encode(entries.map((e) => `${e.actionId} ${e.outputId} ${e.size} ${e.timeNanos}\n`).join("")));
}

export function decodeManifest(bytes: Uint8Array): ManifestEntry[] {
  const text = new TextDecoder().decode(Bun.gunzipSync(bytes as Uint8Array<ArrayBuffer>));
  const out: ManifestEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]{64}) ([0-9a-f]{64}) (\d{1,15}) (\d{1,20})$/.exec(line);
    if (m) out.push({ actionId: m[1]!, outputId: m[2]!, size: Number(m[3]), timeNanos: BigInt(m[4]!) });
  }
  return out;
}
