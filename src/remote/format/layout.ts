/**
 * Key layout and record formats of the bucket (see README "Bucket layout").
 * The tailscale/go-cache-plugin compatible part:
 *
 *   [<prefix>/]action/<first two hex>/<action id hex>   "<output id hex> <unix nanoseconds>"
 *   [<prefix>/]output/<first two hex>/<output id hex>   the raw output bytes
 */
import type { Mapping } from "../../store/store.ts";
import { compress, decompress, isZstd } from "./zstd.ts";

export interface RemoteRecord {
  outputId: string;
  timeNanos: bigint;
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

/**
 * Our own additions, under key prefixes tailscale/go-cache-plugin never uses
 * (its records above are still written, so it keeps working on our bucket):
 *
 *   [<prefix>/]ax/<xx>/<action id>          "<output id> <unix nanos> <size>[ zstd][ sig:<key id>:<mac>]\n" followed, when
 *                                           size <= INLINE_MAX, by the output bytes (a zstd frame
 *                                           with " zstd"): one GET answers both the action and
 *                                           its output
 *   [<prefix>/]zoutput/<xx>/<output id>     the output as one zstd frame (--compression zstd, the
 *                                           default; with none it goes to output/ raw instead)
 *   [<prefix>/]manifest/<sha256>            gzip of ["gcp-manifest-sig <key id>:<mac>\n"] then
 *                                           "<action id> <output id> <size> <unix nanos>\n"
 *                                           lines: every entry one session used (manifest.ts);
 *                                           named by entriesDigest (the same build, the same
 *                                           key); its modification time is the last use of
 *                                           those entries (gc reads it: remote/usage.ts)
 *   [<prefix>/]manifest-index/<xx>/<action id>   key of the latest manifest whose session
 *                                           asked for this action among its first gets
 *                                           [" sig:<key id>:<mac>"]
 *   [<prefix>/]pack/<sha256>                the small outputs (<= PACK_ENTRY_MAX) of the manifest
 *                                           with the same hash: "gcp-pack 1 <n>\n", n lines
 *                                           "<output id> <size>\n", then the n outputs back to
 *                                           back; one GET instead of hundreds (written first);
 *                                           with zstd, that whole text as one zstd frame (the
 *                                           frame's magic tells the two apart)
 *
 * The signatures (trust/sign.ts) are written only with --signing-key-file;
 * a reader with keys trusts an entry only through a signed ax record or a
 * signed manifest (behind a signed pointer) of the prefix it is read from,
 * never through action/. Readers without keys ignore them.
 *
 * Readers accept both forms of everything, whatever their own --compression:
 * a fleet may mix versions, and the Go original writes output/ only. Sizes
 * and SHA-256s are always those of the raw output, checked after inflating.
 */
export type Encoding = "raw" | "zstd";
export const INLINE_MAX = 128 * 1024;

/**
 * Bounds on what is read from the bucket, per kind of object (a hostile or
 * broken bucket must not exhaust memory): records are under 100 bytes, an
 * `ax` record is a line plus at most INLINE_MAX, a manifest of a large
 * build is a few MB, a pack is PACK_MAX plus its header.
 */
export const RECORD_READ_MAX = 1024;
/** A pointer: a manifest key (at most KEY_MAX, 1024) and its signature token. */
export const POINTER_READ_MAX = 2048;
/** The first line of an ax record, signature included. */
const AX_LINE_MAX = 600;
export const AX_READ_MAX = INLINE_MAX + (INLINE_MAX >> 7) + 1024 + AX_LINE_MAX;
export const MANIFEST_READ_MAX = 16 << 20;
/** Decompressed manifest text, and entries per manifest. */
export const MANIFEST_TEXT_MAX = 64 << 20;
export const MANIFEST_ENTRIES_MAX = 250_000;
/** Entries a writer puts in one manifest: well within both read bounds (about 83 bytes of gzip each). */
export const MANIFEST_WRITE_MAX = 150_000;
/** Any one output (go's largest are linked test binaries, well under this); also bounds a size the bucket claims. */
export const OBJECT_READ_MAX = 4 * 2 ** 30;


/** Every kind of object the cache keeps under a prefix (gc and stats touch these and nothing else). */
export const KINDS = ["action", "output", "ax", "zoutput", "manifest-index", "manifest", "pack"] as const;
export type Kind = (typeof KINDS)[number];
/** The key prefix every object of `kind` has. */
export const kindBase = (prefix: string, kind: Kind) => `${prefix ? `${prefix}/` : ""}${kind}/`;
/** The ID an object's key names (sharded kinds: `<xx>/<id>`), or undefined when the key is not of that form. */
export function idOfKey(base: string, kind: Kind, key: string): string | undefined {
  const rest = key.slice(base.length);
  const m = kind === "manifest" || kind === "pack" ? /^([0-9a-f]{64})$/.exec(rest) : /^([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(rest);
  if (!m || !key.startsWith(base)) return undefined;
  const id = m[2] ?? m[1]!;
  return m[2] !== undefined && !id.startsWith(m[1]!) ? undefined : id;
}

const key = (prefix: string, kind: string, id: string) => `${prefix ? `${prefix}/` : ""}${kind}/${id.slice(0, 2)}/${id}`;
export const axKey = (prefix: string, actionId: string) => key(prefix, "ax", actionId);
export const zoutputKey = (prefix: string, outputId: string) => key(prefix, "zoutput", outputId);
/** What may be read for a zstd frame of `size` raw bytes (zstd's worst case is a little over the input). */
export const frameBound = (size: number) => size + (size >> 7) + 1024;
export const manifestIndexKey = (prefix: string, actionId: string) => key(prefix, "manifest-index", actionId);
export const manifestKey = (prefix: string, hash: string) => `${prefix ? `${prefix}/` : ""}manifest/${hash}`;
export const packKey = (prefix: string, hash: string) => `${prefix ? `${prefix}/` : ""}pack/${hash}`;

/** Outputs up to this size go into a manifest's pack (most outputs of a build are this small). */
export const PACK_ENTRY_MAX = 64 * 1024;
/** Bound on one pack's total size. */
export const PACK_MAX = 32 << 20;
const PACK_MAGIC = "gcp-pack 1";
/** Entries in one pack, and the bytes read for one (outputs plus header lines). */
export const PACK_ENTRIES_MAX = 100_000;
export const PACK_READ_MAX = PACK_MAX + PACK_ENTRIES_MAX * 100;

export interface AxRecord { outputId: string; timeNanos: bigint; size: number; encoding: Encoding; inline?: Uint8Array; signature?: string }

export interface PackPart { outputId: string; bytes: Uint8Array }

export function encodePack(parts: PackPart[], encoding: Encoding = "raw"): Uint8Array {
  const head = new TextEncoder().encode(`${PACK_MAGIC} ${parts.length}\n${parts.map((p) => `${p.outputId} ${p.bytes.length}\n`).join("")}`);
  let size = head.length;
  for (const p of parts) size += p.bytes.length;
  const out = new Uint8Array(size);
  out.set(head);
  let at = head.length;
  for (const p of parts) {
    out.set(p.bytes, at);
    at += p.bytes.length;
  }
  return encoding === "zstd" ? compress(out) : out;
}

/** Output ID -> bytes (views into the pack, unverified). Undefined when malformed, or a frame that inflates past PACK_READ_MAX. */
export function decodePack(bytes: Uint8Array): Map<string, Uint8Array> | undefined {
  if (isZstd(bytes)) {
    try {
      bytes = decompress(bytes, PACK_READ_MAX);
    } catch {
      return undefined;
    }
    if (bytes.length >= PACK_READ_MAX) return undefined;
  }
  const ascii = new TextDecoder("latin1");
  const firstNl = bytes.indexOf(10);
  const m = firstNl > 0 ? /^gcp-pack 1 (\d{1,7})$/.exec(ascii.decode(bytes.subarray(0, firstNl))) : null;
  if (!m) return undefined;
  const n = Number(m[1]);
  if (n > PACK_ENTRIES_MAX) return undefined;
  const lines: Array<[string, number]> = [];
  let at = firstNl + 1;
  for (let i = 0; i < n; i++) {
    const nl = bytes.indexOf(10, at);
    const e = nl > at ? /^([0-9a-f]{64}) (\d{1,9})$/.exec(ascii.decode(bytes.subarray(at, nl))) : null;
    if (!e) return undefined;
    lines.push([e[1]!, Number(e[2])]);
    at = nl + 1;
  }
  const out = new Map<string, Uint8Array>();
  for (const [outputId, size] of lines) {
    if (at + size > bytes.length) return undefined;
    out.set(outputId, bytes.subarray(at, at + size));
    at += size;
  }
  return at === bytes.length ? out : undefined;
}

/**
 * The `ax` record; with zstd its inline bytes (when given) are stored as one
 * zstd frame; `signature` (a token of trust/sign.ts over the entry) ends its
 * first line as " sig:<key id>:<mac>".
 */
export function encodeAx(r: Mapping, inline: Uint8Array | undefined, encoding: Encoding = "raw", signature?: string): Uint8Array {
  const head = new TextEncoder().encode(`${r.outputId} ${r.timeNanos} ${r.size}${encoding === "zstd" ? " zstd" : ""}${signature ? ` sig:${signature}` : ""}\n`);
  if (!inline) return head;
  const body = encoding === "zstd" ? compress(inline) : inline;
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/**
 * The record and, when the bytes are inline, the output (inflated; its size
 * checked, its SHA-256 not: the caller's). Undefined when malformed.
 * `encoding` says where the output is kept (zoutput/ or output/);
 * `signature` is the token the record carries, unchecked.
 */
export function decodeAx(bytes: Uint8Array): AxRecord | undefined {
  const nl = bytes.indexOf(10);
  if (nl < 0 || nl > AX_LINE_MAX) return undefined;
  const m = /^([0-9a-f]{64}) (\d{1,20}) (\d{1,15})( zstd)?(?: sig:(\S{1,400}))?$/.exec(new TextDecoder().decode(bytes.subarray(0, nl)));
  if (!m) return undefined;
  const size = Number(m[3]);
  const encoding: Encoding = m[4] ? "zstd" : "raw";
  const record: AxRecord = { outputId: m[1]!, timeNanos: BigInt(m[2]!), size, encoding, ...(m[5] ? { signature: m[5] } : {}) };
  let rest: Uint8Array = bytes.subarray(nl + 1);
  if (rest.length === 0) return size === 0 && encoding === "raw" ? { ...record, inline: rest } : record;
  // Only small outputs are ever inline: a record claiming more is not inflated (a tiny frame may claim gigabytes).
  if (size > INLINE_MAX) return record;
  if (encoding === "zstd") {
    try {
      rest = decompress(rest, size);
    } catch {
      return record; // a bad inline frame: the output is fetched on its own (and verified there)
    }
  }
  return rest.length === size ? { ...record, inline: rest } : record;
}
