/**
 * On-disk layout of the local store, under the cache directory:
 *
 *   v1/a/<first two hex>/<action id hex>   action record: "<output id hex> <size> <unix nanos>\n"
 *   v1/o/<first two hex>/<output id hex>   output bytes, mode 0755 (the go command runs cached binaries)
 *   <final path>.<pid>.<n>.tmp               in-flight writes, beside their final name; renamed into place
 *   v1/trim.txt                            Unix seconds of the last trim
 *   v1/journal/<writer>.log                uploads not yet in the bucket (remote/journal.ts)
 *   v1/sessions.log                        the last sessions' numbers, for `stats` (session-log.ts)
 *   v1/uses/<trace id>                     empty; its mtime: when this directory last refreshed that
 *                                          session's trace of use in the bucket (remote/usage.ts)
 *
 * Files are only ever replaced by rename, so a reader sees a whole old file or
 * a whole new one, never a partial write.
 */
import { join } from "node:path";

export class Layout {
  readonly root: string;
  readonly trimStamp: string;
  readonly journalDir: string;
  readonly usesDir: string;
  readonly sessionLog: string;

  constructor(readonly cacheDir: string) {
    this.root = join(cacheDir, "v1");
    this.trimStamp = join(this.root, "trim.txt");
    this.journalDir = join(this.root, "journal");
    this.usesDir = join(this.root, "uses");
    this.sessionLog = join(this.root, "sessions.log");
  }

  actionPath(actionId: string): string {
    return `${this.root}/a/${actionId.slice(0, 2)}/${actionId}`;
  }

  objectPath(outputId: string): string {
    return `${this.root}/o/${outputId.slice(0, 2)}/${outputId}`;
  }

  /** The 256 shard directories of one kind ("a" or "o"). */
  shardDirs(kind: "a" | "o"): string[] {
    const dirs: string[] = [];
    for (let i = 0; i < 256; i++) dirs.push(join(this.root, kind, i.toString(16).padStart(2, "0")));
    return dirs;
  }
}

export function encodeRecord(outputId: string, size: number, timeNanos: bigint): string {
  return `${outputId} ${size} ${timeNanos}\n`;
}

/** Parses an action record; undefined when it is truncated or corrupt. */
export function decodeRecord(text: string): { outputId: string; size: number; timeNanos: bigint } | undefined {
  const m = /^([0-9a-f]{64}) (\d{1,15}) (\d{1,20})\n$/.exec(text);
  if (!m) return undefined;
  return { outputId: m[1]!, size: Number(m[2]), timeNanos: BigInt(m[3]!) };
}
