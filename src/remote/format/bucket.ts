/**
 * The build cache in a bucket: its records, outputs, manifests and packs
 * (layout.ts), over the blob port, on any backend. Keys follow
 * tailscale/go-cache-plugin so both tools can share one bucket:
 *
 *   [<prefix>/]action/<first two hex>/<action id hex>   "<output id hex> <unix nanoseconds>"
 *   [<prefix>/]output/<first two hex>/<output id hex>   the raw output bytes
 *
 * With a keyring (--signing-key-file) every record and manifest this writes
 * is signed (trust/sign.ts), and a read trusts only what a listed key signed
 * for this prefix: an unsigned record (the compatible action/ layout
 * included) or a bad signature is a miss, reported through `rejected`.
 *
 * A miss is undefined; any other failure throws with the subsystem, the key
 * and the store's error as cause. Reads that fail for a reason that may pass
 * (kind "unavailable") are tried again a few times; nothing is retried here
 * for a write (the worker retries uploads with backoff).
 */
import { BlobError, LocalWriteError, type BlobStore } from "../../blob/port.ts";
import {
  AX_READ_MAX, MANIFEST_READ_MAX, PACK_READ_MAX, POINTER_READ_MAX, RECORD_READ_MAX,
  actionKey, axKey, decodeAx, decodePack, decodeRemoteRecord, encodeAx, encodePack, encodeRemoteRecord,
  manifestIndexKey, manifestKey, packKey, type AxRecord, type PackPart, type RemoteRecord,
} from "./layout.ts";
import { decodePointer, decodeSignedManifest, encodeManifest, encodePointer, entriesDigest, manifestDigest } from "./manifest.ts";
import type { Keyring, SignedKind, Verdict } from "../trust/sign.ts";
import type { Mapping } from "../../store/store.ts";
import type { Encoding } from "./layout.ts";
import { Outputs } from "./outputs.ts";

export * from "./layout.ts";
export * from "./manifest.ts";
export { CorruptObjectError } from "./outputs.ts";

/** Attempts per read, counting the first (requests are not retried below this). */
const READ_ATTEMPTS = 3;

export interface CacheBucketOptions {
  blobs: BlobStore;
  prefix: string;
  /** The form this writer stores outputs, inline records and packs in (--compression). */
  encoding?: Encoding;
  trust?: Trust;
}

/** Signed mode: the keys, and where a record that is not trusted is reported (it is a miss either way). */
export interface Trust {
  keys: Keyring;
  rejected(verdict: Exclude<Verdict, "ok">, what: string): void;
}

export class CacheBucket {
  /** Outputs in either form (outputs.ts). */
  readonly outputs: Outputs;
  /** The form this writer stores in; what readers ask for first. */
  readonly encoding: Encoding;

  /** The namespace: every key this reads and writes starts with it. */
  readonly prefix: string;

  constructor(private readonly opts: CacheBucketOptions) {
    this.prefix = opts.prefix;
    this.encoding = opts.encoding ?? "raw";
    this.outputs = new Outputs({
      prefix: opts.prefix,
      encoding: this.encoding,
      blobs: opts.blobs,
      read: (key, what, max) => this.read(key, what, max),
      retrying: (what, op) => this.retrying(what, op),
    });
  }

  async getAction(actionId: string): Promise<RemoteRecord | undefined> {
    const text = await this.read(actionKey(this.opts.prefix, actionId), `read action ${actionId}`, RECORD_READ_MAX);
    if (text === undefined) return undefined;
    const record = decodeRemoteRecord(new TextDecoder().decode(text));
    if (!record) throw new Error(`[remote] read action ${actionId}: malformed record`);
    return record;
  }


  async putAction(actionId: string, record: RemoteRecord): Promise<void> {
    await this.write(actionKey(this.opts.prefix, actionId), new TextEncoder().encode(encodeRemoteRecord(record)), `write action ${actionId}`);
  }

  /**
   * The mapping recorded for an action: our ax record, else (without a
   * keyring only) the compatible action record, whose size is unknown (-1)
   * and whose output is raw. Both are asked for at once. Signed mode: only
   * a signed ax record; an untrusted one, or an action record alone, is
   * reported once per lookup.
   */
  async getRecord(actionId: string): Promise<AxRecord | undefined> {
    const trust = this.opts.trust;
    const [ax, action] = await Promise.all([
      // Without a key ours is an optimisation and the compatible record decides; with one, ours is all there is.
      trust ? this.readAx(actionId) : this.readAx(actionId).catch(() => undefined),
      trust ? this.getAction(actionId).catch(() => undefined) : this.getAction(actionId),
    ]);
    if (!trust) return ax ?? (action && { ...action, size: -1, encoding: "raw" });
    if (ax) return this.trusted(ax, "entry", [actionId, ax.outputId, ax.size, ax.timeNanos], ax.signature, `ax record ${axKey(this.prefix, actionId)}`);
    if (action) trust.rejected("unsigned", `action record ${actionKey(this.prefix, actionId)}`);
    return undefined;
  }

  /** The ax record as stored (its signature unchecked; see getRecord). */
  async readAx(actionId: string): Promise<AxRecord | undefined> {
    const bytes = await this.read(axKey(this.opts.prefix, actionId), `read ax ${actionId}`, AX_READ_MAX);
    return bytes && decodeAx(bytes);
  }

  async putAx(entry: Mapping, inline: Uint8Array | undefined): Promise<void> {
    const sig = this.opts.trust?.keys.sign("entry", this.prefix, [entry.actionId, entry.outputId, entry.size, entry.timeNanos]);
    await this.write(axKey(this.opts.prefix, entry.actionId), encodeAx(entry, inline, this.encoding, sig), `write ax ${entry.actionId}`);
  }

  /** The key of the manifest indexed under this action, if any (signed mode: only a signed pointer). */
  async getManifestPointer(actionId: string): Promise<string | undefined> {
    const key = manifestIndexKey(this.opts.prefix, actionId);
    const bytes = await this.read(key, `read manifest index ${actionId}`, POINTER_READ_MAX);
    if (!bytes) return undefined;
    const { key: manifest, signature } = decodePointer(bytes);
    return this.trusted(manifest, "pointer", [actionId, manifest.slice(manifest.lastIndexOf("/") + 1)], signature, `manifest index ${key}`);
  }

  async getManifest(key: string): Promise<Mapping[] | undefined> {
    const base = manifestKey(this.opts.prefix, "");
    // A pointer read from the bucket names exactly one of our manifests: nothing else (no "..", no other kind of key).
    if (!key.startsWith(base) || !/^[0-9a-f]{64}$/.test(key.slice(base.length))) throw new Error(`[remote] manifest key ${JSON.stringify(key.slice(0, 200))} is not a manifest of ${base}`);
    const bytes = await this.read(key, `read manifest ${key}`, MANIFEST_READ_MAX);
    if (!bytes) return undefined;
    const manifest = decodeSignedManifest(bytes);
    if (!manifest) throw new Error(`[remote] read manifest ${key}: malformed, or over its bounds`);
    // Nothing of an untrusted manifest is used: no entry of it is prefetched (its pack is not even read).
    return this.trusted(manifest.entries, "manifest", [manifest.digest], manifest.signature, `manifest ${key}`);
  }

  /** The small outputs packed with the manifest at `key` (unverified), if it has a pack, and the pack's size in the bucket. */
  async getPack(key: string): Promise<{ parts: Map<string, Uint8Array>; wire: number } | undefined> {
    const hash = key.slice(manifestKey(this.opts.prefix, "").length);
    const bytes = await this.read(packKey(this.opts.prefix, hash), `read pack ${hash}`, PACK_READ_MAX);
    if (!bytes) return undefined;
    const parts = decodePack(bytes);
    if (!parts) throw new Error(`[remote] read pack ${hash}: malformed, or over its bounds`);
    return { parts, wire: bytes.length };
  }

  /**
   * Writes a manifest (after its pack, when there are small outputs to pack)
   * and points the index of each of `firstGets` at it; returns its key.
   */
  async putManifest(entries: Mapping[], firstGets: string[], pack: PackPart[] = []): Promise<string> {
    const keys = this.opts.trust?.keys;
    const { body, hash, key: k } = this.manifestOf(entries);
    // A pack needs no signature: each of its outputs is checked against the (signed) manifest's output ID.
    if (pack.length > 0) await this.write(packKey(this.opts.prefix, hash), encodePack(pack, this.encoding), `write pack ${hash}`);
    await this.write(k, body, `write manifest ${k}`);
    await Promise.all(firstGets.map((id) => this.write(manifestIndexKey(this.opts.prefix, id), encodePointer(k, keys?.sign("pointer", this.prefix, [id, hash])), `write manifest index ${id}`)));
    return k;
  }

  /**
   * The session's trace of use (remote/usage.ts): writes its manifest when
   * none of the same entries is in the bucket ("new", with its pack), or
   * rewrites it (and its index entries; the pack stays) when it is older than
   * `maxAgeMs` ("refreshed"); a fresh one is left alone. `modifiedMs`: the
   * time of the bucket's copy afterwards (ours when written: `now`).
   */
  async refreshManifest(entries: Mapping[], firstGets: string[], pack: () => PackPart[], maxAgeMs: number, now = Date.now()): Promise<{ key: string; written?: "new" | "refreshed"; modifiedMs: number }> {
    const key = manifestKey(this.opts.prefix, entriesDigest(entries)); // the key alone: no body is made for a fresh one
    const info = await this.retrying(`head manifest ${key}`, () => this.opts.blobs.head(key));
    // Signed mode trusts no unsigned object at that (predictable) key to stand for ours: it is rewritten when due.
    if (info && now - info.modifiedMs < maxAgeMs && !this.opts.trust) return { key, modifiedMs: info.modifiedMs };
    // A refresh leaves the pack (same hash) alone, unless it is gone (gc may take it while a refresh races it).
    const hasPack = info !== undefined && (await this.retrying(`head pack ${key}`, () => this.opts.blobs.head(packKey(this.opts.prefix, key.slice(key.lastIndexOf("/") + 1))))) !== undefined;
    await this.putManifest(entries, firstGets, hasPack ? [] : pack());
    return { key, written: info ? "refreshed" : "new", modifiedMs: now };
  }

  /** A manifest's body and key (named by entriesDigest: the same entries give the same key). */
  private manifestOf(entries: Mapping[]): { body: Uint8Array; hash: string; key: string } {
    const hash = entriesDigest(entries);
    const signature = this.opts.trust?.keys.sign("manifest", this.prefix, [manifestDigest(entries)]);
    return { body: encodeManifest(entries, signature), hash, key: manifestKey(this.opts.prefix, hash) };
  }

  /** `value` without a keyring, or when `signature` signs the statement; else reported, and a miss. */
  private trusted<T>(value: T, kind: SignedKind, fields: Array<string | number | bigint>, signature: string | undefined, what: string): T | undefined {
    const trust = this.opts.trust;
    if (!trust) return value;
    const verdict = trust.keys.verify(kind, this.prefix, fields, signature);
    if (verdict === "ok") return value;
    trust.rejected(verdict, what);
    return undefined;
  }

  private read(key: string, what: string, maxBytes: number): Promise<Uint8Array | undefined> {
    return this.retrying(what, () => this.opts.blobs.read(key, maxBytes));
  }

  /**
   * Runs a read; one that fails for a reason that may pass (a server error,
   * a refused connection, a body that breaks off) is tried again a few times
   * with a short backoff. A missing key is undefined (the store says so).
   */
  private async retrying<T>(what: string, op: () => Promise<T | undefined>): Promise<T | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        if (err instanceof LocalWriteError) throw err; // the local disk: asking again does not help
        if (attempt >= READ_ATTEMPTS || !(err instanceof BlobError) || err.kind !== "unavailable") throw new Error(`[remote] ${what}`, { cause: err });
        await Bun.sleep(50 * attempt);
      }
    }
  }

  private async write(key: string, body: Uint8Array | Blob, what: string): Promise<void> {
    try {
      await this.opts.blobs.write(key, body);
    } catch (err) {
      throw new Error(`[remote] ${what}`, { cause: err });
    }
  }
}
