/**
 * Action records of installed entries, held in memory and written to disk
 * once the go command no longer waits on us.
 *
 * Why: a fresh runner installs a thousand or more entries from the bucket
 * while the go command waits on each get, and on a loaded ext4 every file
 * creation can cost most of a millisecond. The go command reads only the
 * object (DiskPath); the action record is for later processes. So during a
 * session an installed entry costs one file, and its record is answered
 * from memory; `flush` writes the records after the session's close reply
 * (the go command has stopped waiting by then).
 *
 * Contract: `get` answers held records; the newest record of an action
 * wins: a put's synchronous write drops the held one, or re-holds its own
 * when a flush may be writing the old one (`supersede`); a record lost to a
 * crash before `flush` costs a later process a remote lookup, never a wrong
 * answer (objects are verified and content-addressed).
 */
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import type { ActionRecord } from "./store.ts";
import { encodeRecord } from "./layout.ts";
import { uniqueTag } from "./identity.ts";

/** Records written at once while flushing (Bun's file-system threads do the work). */
const FLUSH_CONCURRENCY = 8;


export class DeferredActions {
  private readonly held = new Map<string, ActionRecord>();
  /** Actions whose record a flush is writing right now. */
  private readonly writing = new Set<string>();
  private flushing: Promise<void> | undefined;
  /** Records that could not be written, and the last reason (the store has no logger). */
  failures = 0;
  lastError: unknown;

  constructor(private readonly pathOf: (actionId: string) => string, private readonly fsync = false) {}

  get size(): number {
    return this.held.size;
  }

  get(actionId: string): ActionRecord | undefined {
    return this.held.get(actionId);
  }

  /** Holds `record` for this process until the next flush. */
  put(actionId: string, record: ActionRecord): void {
    this.held.set(actionId, record);
  }

  /**
   * A newer record of this action was just written to disk: the held one
   * must not replace it. If a flush is writing the old one right now, it may
   * land after the new one, so the new one is held and written once more.
   */
  supersede(actionId: string, record: ActionRecord): void {
    if (this.writing.has(actionId)) this.held.set(actionId, record);
    else this.held.delete(actionId);
  }

  /** Writes every held record (off this thread); resolves when done. Records held meanwhile wait for the next flush. */
  flush(): Promise<void> {
    this.flushing ??= this.writeAll().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async writeAll(): Promise<void> {
    const ids = [...this.held.keys()];
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        for (let record = this.held.get(id); record; record = this.held.get(id)) {
          this.writing.add(id);
          try {
            await writeAtomic(this.pathOf(id), encodeRecord(record.outputId, record.size, record.timeNanos), this.fsync);
          } catch (err) {
            this.failures++;
            this.lastError = new Error(`[local] write action ${id}`, { cause: err });
          } finally {
            this.writing.delete(id);
          }
          if (this.held.get(id) === record) this.held.delete(id);
        }
      }
    };
    await Promise.all(Array.from({ length: FLUSH_CONCURRENCY }, worker));
  }
}

async function writeAtomic(path: string, text: string, fsync: boolean): Promise<void> {
  const tmp = `${path}.${uniqueTag()}.tmp`;
  let file;
  try {
    file = await open(tmp, "wx", 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    await mkdir(dirname(path), { recursive: true });
    file = await open(tmp, "wx", 0o644);
  }
  try {
    await file.writeFile(text);
    if (fsync) await file.sync();
    await file.close();
    await rename(tmp, path);
  } catch (err) {
    await file.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
