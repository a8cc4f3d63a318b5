/**
 * Outputs in the bucket, in either form (layout.ts): raw under output/ (the
 * compatible layout) or one zstd frame under zoutput/. Reads try the form the
 * caller expects first and then the other (a fleet may mix versions and
 * settings: at most one extra request); writes use the writer's
 * --compression. Everything returned is the raw output, inflated within the
 * recorded size and not yet verified (the caller checks size and SHA-256).
 */
import { unlinkSync } from "node:fs";
import type { BlobStore } from "../../blob/port.ts";
import { OBJECT_READ_MAX, frameBound, outputKey, zoutputKey, type Encoding } from "./layout.ts";
import { compress, compressFile, decompress, decompressFile, ZstdError } from "./zstd.ts";

/** A zstd object that does not inflate to an output within its recorded size: corrupt, never served. */
export class CorruptObjectError extends Error {}

/** What may be read for one output: its recorded size (the bucket's claim, so capped too), else the cap. */
const objectBound = (size: number) => (size >= 0 ? Math.min(size, OBJECT_READ_MAX) : OBJECT_READ_MAX);

/** The primitives of CacheBucket this needs (its retries and error wrapping included). */
export interface OutputIO {
  prefix: string;
  encoding: Encoding;
  blobs: BlobStore;
  read(key: string, what: string, maxBytes: number): Promise<Uint8Array | undefined>;
  retrying<T>(what: string, op: () => Promise<T | undefined>): Promise<T | undefined>;
}

/** Bytes read: the output's (`bytes`) and what crossed the wire for it (`wire`). */
export interface Fetched<T> { value: T; wire: number; encoding: Encoding }

const other = (e: Encoding): Encoding => (e === "zstd" ? "raw" : "zstd");

export class Outputs {
  constructor(private readonly io: OutputIO) {}

  /** The output's bytes; `prefer` is the form to ask for first. */
  async get(outputId: string, size: number, prefer: Encoding): Promise<Fetched<Uint8Array> | undefined> {
    const what = `read output ${outputId}`;
    for (const encoding of [prefer, other(prefer)]) {
      if (encoding === "raw") {
        const bytes = await this.io.read(outputKey(this.io.prefix, outputId), what, objectBound(size));
        if (bytes) return { value: bytes, wire: bytes.length, encoding };
        continue;
      }
      const frame = await this.io.read(zoutputKey(this.io.prefix, outputId), what, frameBound(objectBound(size)));
      if (!frame) continue;
      try {
        return { value: decompress(frame, objectBound(size)), wire: frame.length, encoding };
      } catch (err) {
        throw new CorruptObjectError(`[remote] ${what}: ${(err as Error).message}`, { cause: err });
      }
    }
    return undefined;
  }

  /** Streams the output into the file at `path` (truncated first): its size; `tmp` is a scratch path for a frame. */
  async getToFile(outputId: string, path: string, size: number, prefer: Encoding, tmp: string): Promise<Fetched<number> | undefined> {
    const what = `read output ${outputId}`;
    for (const encoding of [prefer, other(prefer)]) {
      if (encoding === "raw") {
        const n = await this.io.retrying(what, () => this.io.blobs.readToFile(outputKey(this.io.prefix, outputId), path, objectBound(size)));
        if (n !== undefined) return { value: n, wire: n, encoding };
        continue;
      }
      try {
        const wire = await this.io.retrying(what, () => this.io.blobs.readToFile(zoutputKey(this.io.prefix, outputId), tmp, frameBound(objectBound(size))));
        if (wire === undefined) continue;
        try {
          return { value: await decompressFile(tmp, path, objectBound(size)), wire, encoding };
        } catch (err) {
          if (err instanceof ZstdError) throw new CorruptObjectError(`[remote] ${what}: ${err.message}`, { cause: err });
          throw err; // writing the file: the local disk
        }
      } finally {
        try { unlinkSync(tmp); } catch { /* never written */ }
      }
    }
    return undefined;
  }

  /**
   * Writes the output in the writer's form unless the bucket has it already;
   * says which, and how many bytes were stored. `file` is where a large
   * output is (streamed, compressed through `tmp`, which is removed; unused
   * without zstd); `bytes` a small one.
   * With `replace` it is written whatever is there (that copy was found
   * corrupt: a conditional write would keep it for good).
   */
  async put(outputId: string, body: { bytes: Uint8Array } | { file: string; tmp: string }, opts: { replace?: boolean } = {}): Promise<{ outcome: "written" | "exists"; stored: number }> {
    const zstd = this.io.encoding === "zstd";
    const key = zstd ? zoutputKey(this.io.prefix, outputId) : outputKey(this.io.prefix, outputId);
    const write = async (data: Uint8Array | Blob, stored: number) => {
      try {
        const outcome = await this.io.blobs.write(key, data, { ifAbsent: !opts.replace });
        return { outcome, stored: outcome === "written" ? stored : 0 };
      } catch (err) {
        throw new Error(`[remote] write output ${outputId}`, { cause: err });
      }
    };
    if ("bytes" in body) {
      const data = zstd ? compress(body.bytes) : body.bytes;
      return write(data, data.length);
    }
    if (!zstd) return write(Bun.file(body.file), Bun.file(body.file).size);
    try {
      await compressFile(body.file, body.tmp);
      return await write(Bun.file(body.tmp), Bun.file(body.tmp).size);
    } finally {
      try { unlinkSync(body.tmp); } catch { /* not made */ }
    }
  }
}
