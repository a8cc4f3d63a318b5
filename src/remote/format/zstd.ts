/**
 * zstd for what we store in the bucket under our own keys (layout.ts).
 * Decompression is always bounded by the size the record claims: more is a
 * bomb and refused; less (a truncated frame, which zstd's decoder does not
 * always report) is caught by the caller's size and SHA-256 checks, which
 * run on the decompressed bytes. Loaded in the worker only (node:zlib is
 * never on the protocol loop's start-up path).
 */
import { closeSync, createReadStream, createWriteStream, openSync, readSync } from "node:fs";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type * as Zlib from "node:zlib";
import { LocalWriteError } from "../../blob/port.ts";

/**
 * Level 1: on `go build std`'s outputs it keeps about 92% of level 3's
 * saving (2.9x vs 3.15x on the compiler binary) for half the CPU (90 vs 175
 * ms per 25 MB here), and a cold build's uploads compete with the compiler
 * for the same cores.
 */
export const ZSTD_LEVEL = 1;

/** The first four bytes of every zstd frame. */
const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

export const isZstd = (b: Uint8Array) => b.length >= 4 && MAGIC.every((m, i) => b[i] === m);

const zlib = (): typeof Zlib => require("node:zlib");

export class ZstdError extends Error {}

export function compress(bytes: Uint8Array): Uint8Array {
  const z = zlib();
  return z.zstdCompressSync(bytes, { params: { [z.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } });
}

/** The frame's bytes, at most `max` of them; throws ZstdError for a corrupt frame or one that inflates past `max`. */
export function decompress(frame: Uint8Array, max: number): Uint8Array {
  if (!isZstd(frame)) throw new ZstdError("not a zstd frame");
  try {
    // maxOutputLength stops the decoder there (a bomb costs at most `max` bytes of memory).
    return zlib().zstdDecompressSync(frame, { maxOutputLength: Math.max(max, 1) });
  } catch (err) {
    throw new ZstdError(`zstd: ${(err as Error).message}`, { cause: err });
  }
}

/** Streams the file at `src` through zstd into `dst` (created or truncated). */
export async function compressFile(src: string, dst: string): Promise<void> {
  const z = zlib();
  await pipeline(createReadStream(src), z.createZstdCompress({ params: { [z.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } }), createWriteStream(dst));
}

/**
 * Streams the zstd file at `src` into `dst`: the byte count; throws
 * ZstdError when the frame is corrupt or inflates past `max` (the stream
 * stops there: at most `max` bytes reach the disk). A failure to write `dst`
 * is a LocalWriteError (the disk, not the bucket).
 */
export async function decompressFile(src: string, dst: string, max: number): Promise<number> {
  let n = 0;
  const budget = new Transform({
    transform(chunk: Buffer, _enc, done) {
      n += chunk.length;
      done(n > max ? new ZstdError(`zstd: inflates past the ${max} bytes recorded`) : null, chunk);
    },
  });
  const head = new Uint8Array(4);
  const fd = openSync(src, "r");
  try { readSync(fd, head, 0, 4, 0); } finally { closeSync(fd); }
  if (!isZstd(head)) throw new ZstdError("not a zstd frame");
  const sink = createWriteStream(dst);
  let sinkError: unknown;
  sink.on("error", (e) => { sinkError = e; });
  try {
    await pipeline(createReadStream(src), zlib().createZstdDecompress(), budget, sink);
  } catch (err) {
    if (err instanceof ZstdError) throw err;
    // The pipeline hands its first error to every stage: only an errno from the sink itself is the disk's.
    const code = (sinkError as NodeJS.ErrnoException | undefined)?.code;
    if (code && /^E[A-Z]+$/.test(code)) throw new LocalWriteError(`write ${dst}`, { cause: sinkError });
    throw new ZstdError(`zstd: ${(err as Error).message}`, { cause: err });
  }
  return n;
}
