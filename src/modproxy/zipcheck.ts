/**
 * Checks a downloaded module zip before it is cached or served. Reads only
 * the end of the file (the central directory) plus the go.mod entry:
 *
 * - the end-of-central-directory record must end exactly at end of file
 *   (a cut download has none there), ZIP64 records are followed;
 * - every entry name starts with `<module>@<version>/` (unescaped), has no
 *   `.`/`..`/empty elements or backslashes, and no two names differ only in case;
 * - the total uncompressed size stays within the limit (500 MiB, like the go command);
 * - `<module>@<version>/go.mod`, when present, inflates to its recorded size
 *   and CRC-32, and equals `expectedMod` when the caller knows the .mod.
 */
import { crc32, inflateRawSync } from "node:zlib";

/** The go command refuses a go.mod larger than this. */
const MAX_GO_MOD = 16 << 20;

export interface ZipCheckOptions {
  path: string;
  module: string;
  version: string;
  maxBytes: number;
  /** The version's .mod, when known: the zip's go.mod must equal it. */
  expectedMod?: Uint8Array;
}

export type ZipCheck = { ok: true; entries: number } | { ok: false; reason: string };

const EOCD = 0x06054b50, EOCD64 = 0x06064b50, LOC64 = 0x07064b50, CEN = 0x02014b50, LOC = 0x04034b50;
const MAX32 = 0xffffffff;

export async function checkModuleZip(opts: ZipCheckOptions): Promise<ZipCheck> {
  try {
    const entries = await check(opts);
    return { ok: true, entries };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

async function check(opts: ZipCheckOptions): Promise<number> {
  const file = Bun.file(opts.path);
  const size = file.size;
  const read = async (start: number, end: number) => {
    if (start < 0 || end > size || start > end) throw new Error("zip: offset out of range (truncated?)");
    return new Uint8Array(await file.slice(start, end).arrayBuffer());
  };
  if (size > opts.maxBytes) throw new Error(`zip: ${size} bytes exceeds the ${opts.maxBytes}-byte limit`);
  const tailStart = Math.max(0, size - 22 - 0xffff);
  const tail = await read(tailStart, size);
  const tv = view(tail);
  let at = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD && i + 22 + tv.getUint16(i + 20, true) === tail.length) { at = i; break; }
  }
  if (at < 0) throw new Error("zip: no end-of-central-directory record at end of file (truncated or not a zip)");
  let count = tv.getUint16(at + 10, true), cdSize = tv.getUint32(at + 12, true), cdOffset = tv.getUint32(at + 16, true);
  let cdLimit = tailStart + at;
  if (count === 0xffff || cdSize === MAX32 || cdOffset === MAX32) {
    if (at < 20 || tv.getUint32(at - 20, true) !== LOC64) throw new Error("zip: ZIP64 locator missing");
    const off = Number(tv.getBigUint64(at - 12, true));
    const z = view(await read(off, off + 56));
    if (z.getUint32(0, true) !== EOCD64) throw new Error("zip: bad ZIP64 end record");
    count = Number(z.getBigUint64(32, true));
    cdSize = Number(z.getBigUint64(40, true));
    cdOffset = Number(z.getBigUint64(48, true));
    cdLimit = off;
  }
  if (cdOffset + cdSize > cdLimit) throw new Error("zip: central directory out of range (truncated?)");
  const cd = await read(cdOffset, cdOffset + cdSize);
  const cv = view(cd);
  const prefix = `${opts.module}@${opts.version}/`;
  const seen = new Set<string>();
  let total = 0, p = 0, goMod: Entry | undefined;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== CEN) throw new Error(`zip: bad central directory entry ${n}`);
    const e: Entry = { method: cv.getUint16(p + 10, true), crc: cv.getUint32(p + 16, true), csize: cv.getUint32(p + 20, true), usize: cv.getUint32(p + 24, true), offset: cv.getUint32(p + 42, true) };
    const nameLen = cv.getUint16(p + 28, true), extraLen = cv.getUint16(p + 30, true), commentLen = cv.getUint16(p + 32, true);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    readZip64Extra(cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen), e);
    p += 46 + nameLen + extraLen + commentLen;
    if (!name.startsWith(prefix)) throw new Error(`zip: entry ${JSON.stringify(name)} is not under ${prefix}`);
    const rel = name.slice(prefix.length).replace(/\/$/, "");
    if (name.includes("\\") || rel.split("/").some((s) => s === "" || s === "." || s === "..")) throw new Error(`zip: bad entry name ${JSON.stringify(name)}`);
    const folded = name.toLowerCase();
    if (seen.has(folded)) throw new Error(`zip: duplicate entry ${JSON.stringify(name)} (names differing only in case count as one)`);
    seen.add(folded);
    total += e.usize;
    if (total > opts.maxBytes) throw new Error(`zip: uncompressed size exceeds the ${opts.maxBytes}-byte limit`);
    if (name === `${prefix}go.mod`) goMod = e;
  }
  if (goMod) {
    const bytes = await inflateEntry(goMod, read);
    if (opts.expectedMod && Buffer.compare(bytes, opts.expectedMod) !== 0) throw new Error("zip: go.mod differs from the version's .mod file");
  }
  return count;
}

interface Entry { method: number; crc: number; csize: number; usize: number; offset: number }

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Replaces 0xFFFFFFFF sizes and offset with their ZIP64 extra-field values (in APPNOTE order). */
function readZip64Extra(extra: Uint8Array, e: Entry): void {
  const v = view(extra);
  for (let i = 0; i + 4 <= extra.length; i += 4 + v.getUint16(i + 2, true)) {
    if (v.getUint16(i, true) !== 0x0001) continue;
    let q = i + 4;
    const next = () => { const x = q + 8 <= extra.length ? Number(v.getBigUint64(q, true)) : MAX32; q += 8; return x; };
    if (e.usize === MAX32) e.usize = next();
    if (e.csize === MAX32) e.csize = next();
    if (e.offset === MAX32) e.offset = next();
  }
}

async function inflateEntry(e: Entry, read: (a: number, b: number) => Promise<Uint8Array>): Promise<Uint8Array> {
  if (e.csize > MAX_GO_MOD) throw new Error("zip: go.mod is larger than 16 MiB");
  const head = view(await read(e.offset, e.offset + 30));
  if (head.getUint32(0, true) !== LOC) throw new Error("zip: bad local header for go.mod");
  const start = e.offset + 30 + head.getUint16(26, true) + head.getUint16(28, true);
  const raw = await read(start, start + e.csize);
  if (e.method !== 0 && e.method !== 8) throw new Error(`zip: go.mod uses unsupported compression method ${e.method}`);
  if (e.usize > MAX_GO_MOD) throw new Error("zip: go.mod is larger than 16 MiB");
  const bytes = e.method === 0 ? raw : inflateRawSync(raw, { maxOutputLength: e.usize + 1 });
  if (bytes.length !== e.usize || crc32(bytes) !== e.crc) throw new Error("zip: go.mod is corrupt (size or CRC-32 mismatch)");
  return bytes;
}
