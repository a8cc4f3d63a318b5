/**
 * The remote tier: the bucket, in the layout of tailscale/go-cache-plugin so
 * both tools can share one bucket:
 *
 *   [<prefix>/]action/<first two hex>/<action id hex>   "<output id hex> <unix nanoseconds>"
 *   [<prefix>/]output/<first two hex>/<output id hex>   the raw output bytes
 *
 * A miss is undefined; any other failure throws with the subsystem, the key
 * and the failed request's error as cause.
 */
import type { BucketIO } from "../s3/io.ts";
import { isNotFound, isNotImplemented, isPreconditionFailed } from "../s3/errors.ts";
import { FileWriteError, TooLargeError } from "../s3/native.ts";
import {
  AX_READ_MAX, MANIFEST_READ_MAX, OBJECT_READ_MAX, PACK_READ_MAX, POINTER_READ_MAX, RECORD_READ_MAX,
  actionKey, axKey, decodeAx, decodeManifest, decodePack, decodeRemoteRecord, encodeAx, encodeManifest, encodePack, encodeRemoteRecord,
  manifestIndexKey, manifestKey, outputKey, packKey, type ManifestEntry, type PackPart, type RemoteRecord,
} from "./remote-layout.ts";

export * from "./remote-layout.ts";

/** Attempts per read, counting the first (requests are not retried below this). */
const READ_ATTEMPTS = 3;

export interface RemoteStoreOptions {
  io: BucketIO;
  prefix: string;
}

/** What may be read for one output: its recorded size (the bucket's claim, so capped too), else the cap. */
const objectBound = (size: number) => (size >= 0 ? Math.min(size, OBJECT_READ_MAX) : OBJECT_READ_MAX);

export class RemoteStore {
  /** Whether the server honours If-None-Match: * (learned on first use). */
  private conditionalWrites = true;

  constructor(private readonly opts: RemoteStoreOptions) {}

  async getAction(actionId: string): Promise<RemoteRecord | undefined> {
    const text = await this.read(actionKey(this.opts.prefix, actionId), `read action ${actionId}`, RECORD_READ_MAX);
    if (text === undefined) return undefined;
    const record = decodeRemoteRecord(new TextDecoder().decode(text));
    if (!record) throw new Error(`[s3] read action ${actionId}: malformed record`);
    return record;
  }

  /** An object (unverified); `size`, when known (>= 0), bounds what is read. */
  getObject(outputId: string, size = -1): Promise<Uint8Array | undefined> {
    return this.read(outputKey(this.opts.prefix, outputId), `read output ${outputId}`, objectBound(size));
  }

  /** Streams an object into the file at `path` (unverified): its size, or undefined when the bucket lacks it. */
  getObjectToFile(outputId: string, path: string, size = -1): Promise<number | undefined> {
    return this.retrying(`read output ${outputId}`, () => this.opts.io.readToFile(outputKey(this.opts.prefix, outputId), path, objectBound(size)));
  }

  async putAction(actionId: string, record: RemoteRecord): Promise<void> {
    await this.write(actionKey(this.opts.prefix, actionId), new TextEncoder().encode(encodeRemoteRecord(record)), `write action ${actionId}`);
  }

  /**
   * Writes an object unless the bucket has it already; says which. With
   * `replace` it is written whatever is there (the copy there was found
   * corrupt: a conditional write would keep it for good).
   */
  async putObject(outputId: string, bytes: Uint8Array | Blob, opts: { replace?: boolean } = {}): Promise<"written" | "exists"> {
    const key = outputKey(this.opts.prefix, outputId);
    const what = `write output ${outputId}`;
    if (opts.replace) {
      await this.write(key, bytes, what);
      return "written";
    }
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
    let exists: boolean;
    try {
      exists = await this.opts.io.exists(key);
    } catch (err) {
      throw new Error(`[s3] ${what}: check existing`, { cause: err });
    }
    if (exists) return "exists";
    await this.write(key, bytes, what);
    return "written";
  }

  async getAx(actionId: string): Promise<ReturnType<typeof decodeAx>> {
    const bytes = await this.read(axKey(this.opts.prefix, actionId), `read ax ${actionId}`, AX_READ_MAX);
    return bytes && decodeAx(bytes);
  }

  async putAx(entry: ManifestEntry, inline: Uint8Array | undefined): Promise<void> {
    await this.write(axKey(this.opts.prefix, entry.actionId), encodeAx(entry, inline), `write ax ${entry.actionId}`);
  }

  /** The key of the manifest indexed under this action, if any. */
  async getManifestPointer(actionId: string): Promise<string | undefined> {
    const bytes = await this.read(manifestIndexKey(this.opts.prefix, actionId), `read manifest index ${actionId}`, POINTER_READ_MAX);
    return bytes && new TextDecoder().decode(bytes).trim();
  }

  async getManifest(key: string): Promise<ManifestEntry[] | undefined> {
    const base = manifestKey(this.opts.prefix, "");
    // A pointer read from the bucket names exactly one of our manifests: nothing else (no "..", no other kind of key).
    if (!key.startsWith(base) || !/^[0-9a-f]{64}$/.test(key.slice(base.length))) throw new Error(`[s3] manifest key ${JSON.stringify(key.slice(0, 200))} is not a manifest of ${base}`);
    const bytes = await this.read(key, `read manifest ${key}`, MANIFEST_READ_MAX);
    if (!bytes) return undefined;
    const entries = decodeManifest(bytes);
    if (!entries) throw new Error(`[s3] read manifest ${key}: malformed, or over its bounds`);
    return entries;
  }

  /** The small outputs packed with the manifest at `key` (unverified), if it has a pack. */
  async getPack(key: string): Promise<Map<string, Uint8Array> | undefined> {
    const hash = key.slice(manifestKey(this.opts.prefix, "").length);
    const bytes = await this.read(packKey(this.opts.prefix, hash), `read pack ${hash}`, PACK_READ_MAX);
    if (!bytes) return undefined;
    const parts = decodePack(bytes);
    if (!parts) throw new Error(`[s3] read pack ${hash}: malformed`);
    return parts;
  }

  /**
   * Writes a manifest (after its pack, when there are small outputs to pack)
   * and points the index of each of `firstGets` at it; returns its key.
   */
  async putManifest(entries: ManifestEntry[], firstGets: string[], pack: PackPart[] = []): Promise<string> {
    const body = encodeManifest(entries);
    const hash = new Bun.CryptoHasher("sha256").update(body).digest("hex");
    const k = manifestKey(this.opts.prefix, hash);
    if (pack.length > 0) await this.write(packKey(this.opts.prefix, hash), encodePack(pack), `write pack ${hash}`);
    await this.write(k, body, `write manifest ${k}`);
    const pointer = new TextEncoder().encode(k);
    await Promise.all(firstGets.map((id) => this.write(manifestIndexKey(this.opts.prefix, id), pointer, `write manifest index ${id}`)));
    return k;
  }

  private read(key: string, what: string, maxBytes: number): Promise<Uint8Array | undefined> {
    return this.retrying(what, () => this.opts.io.read(key, maxBytes));
  }

  /**
   * Runs a read; a failed one (an error status, a refused connection, a
   * body that breaks off) is tried again a few times with a short backoff,
   * except when access is denied. A missing key is undefined.
   */
  private async retrying<T>(what: string, op: () => Promise<T | undefined>): Promise<T | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        if (isNotFound(err)) return undefined;
        if (err instanceof FileWriteError) throw err; // the local disk: asking again does not help
        if (err instanceof TooLargeError) throw new Error(`[s3] ${what}`, { cause: err });
        if (attempt >= READ_ATTEMPTS || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403) {
          throw new Error(`[s3] ${what}`, { cause: err });
        }
        await Bun.sleep(50 * attempt);
      }
    }
  }

  private async write(key: string, body: Uint8Array | Blob, what: string, ifNoneMatch = false): Promise<void> {
    try {
      await this.opts.io.write(key, body, { ifNoneMatch });
    } catch (err) {
      throw new Error(`[s3] ${what}`, { cause: err });
    }
  }
}
