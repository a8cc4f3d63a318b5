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
