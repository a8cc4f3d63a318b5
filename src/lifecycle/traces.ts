/**
 * What gc reads from the bucket: the listing of every kind under the prefix,
 * the traces of use (manifests, folded into the newest use of each action
 * and output as they are read, so memory grows with distinct IDs, not with
 * manifests), and the outputs that records name.
 */
import type { BlobStore } from "../blob/port.ts";
import { KINDS, idOfKey, kindBase, type CacheBucket, type Kind } from "../remote/format/bucket.ts";
import { describeError } from "../log.ts";
import type { BucketObject, Snapshot, Uses } from "./plan.ts";
import { mapLimit } from "./limit.ts";

/** Calls `each` for every object of the known kinds under the prefix (other keys are never touched), kind by kind; `listed` for every key listed. */
export async function forEachObject(blobs: BlobStore, prefix: string, each: (kind: Kind, o: BucketObject) => void, listed: () => void = () => {}): Promise<void> {
  for (const kind of KINDS) {
    const base = kindBase(prefix, kind);
    for await (const info of blobs.list(base)) {
      const id = idOfKey(base, kind, info.key);
      if (id) each(kind, { key: info.key, id, size: info.size, modifiedMs: info.modifiedMs });
      listed();
    }
  }
}

/** Every object of the known kinds under the prefix, by kind. */
export async function scan(blobs: BlobStore, prefix: string, onObject: () => void = () => {}): Promise<Snapshot> {
  const snapshot = Object.fromEntries(KINDS.map((k) => [k, [] as BucketObject[]])) as Snapshot;
  await forEachObject(blobs, prefix, (kind, o) => void snapshot[kind].push(o), onObject);
  return snapshot;
}

/** Objects of `after` that `before` did not have, or had with another modification time. */
export function changed(before: Snapshot, after: Snapshot): Snapshot {
  return Object.fromEntries(KINDS.map((k) => {
    const old = new Map(before[k].map((x) => [x.key, x.modifiedMs]));
    return [k, after[k].filter((x) => old.get(x.key) !== x.modifiedMs)];
  })) as Snapshot;
}

export class Traces {
  readonly uses: Uses = { actions: new Map(), outputs: new Map() };
  readonly recordOutputs = new Map<string, string[]>();
  /** Reads that failed: while there are any, no output may be deleted (a record or manifest naming it is unknown). */
  readonly failures: string[] = [];

  constructor(private readonly bucket: CacheBucket, private readonly limit: number) {}

  /**
   * Folds in the manifests: each entry's use is the newest modification time
   * of a manifest listing it. A manifest that cannot be read stops gc (what
   * it keeps alive is unknown): the error names it.
   */
  async readManifests(list: BucketObject[]): Promise<void> {
    const newest = (m: Map<string, number>, id: string, t: number) => { if ((m.get(id) ?? -Infinity) < t) m.set(id, t); };
    // Two at a time: a decoded manifest may hold MANIFEST_ENTRIES_MAX entries (about 100 MB) until folded.
    await mapLimit(list, Math.min(2, this.limit), async (m) => {
      let entries;
      try {
        entries = await this.bucket.getManifest(m.key);
      } catch (err) {
        throw new Error(`[gc] read manifest ${m.key}: nothing deleted (delete that object if it is not a manifest of this tool)`, { cause: err });
      }
      for (const e of entries ?? []) { newest(this.uses.actions, e.actionId, m.modifiedMs); newest(this.uses.outputs, e.outputId, m.modifiedMs); }
    });
  }

  /**
   * Reads the records: the outputs they name stay while they do. Both
   * records of an action are read (each tool writes its own, and a
   * manifest's entry may be another runner's local hit, naming another
   * output); signatures are not checked, as keeping more is the safe side.
   */
  async readRecords(list: BucketObject[]): Promise<void> {
    await mapLimit([...new Set(list.map((r) => r.id))], this.limit, async (id) => {
      const named = new Set(this.recordOutputs.get(id));
      for (const read of [() => this.bucket.readAx(id), () => this.bucket.getAction(id)]) {
        try {
          const out = (await read())?.outputId;
          if (out) named.add(out);
        } catch (err) {
          if (this.failures.length < 20) this.failures.push(`[gc] read record of ${id}: ${describeError(err)}`);
        }
      }
      if (named.size) this.recordOutputs.set(id, [...named]);
    });
  }

  /** Reads what changed between two listings (a build racing gc): its manifests, and its records. */
  async readChanged(before: Snapshot, after: Snapshot): Promise<void> {
    const c = changed(before, after);
    await this.readManifests(c.manifest);
    await this.readRecords([...c.ax, ...c.action]);
  }
}

