/**
 * Reads across namespaces (--prefix, then --read-prefix P[,P...]): the
 * process's own prefix first, then each read prefix in order. Every one is
 * asked at once (a pull-request runner finds most of its hits in main, and
 * waiting for its own prefix to miss first would double every round trip);
 * the answer is that of the first namespace, in order, that has one. An
 * entry found in a namespace is read from it (its output, and a manifest's
 * entries and pack): a pointer in one prefix can name only a manifest of
 * that prefix. Writes go to `own` only.
 */
import type { AxRecord, CacheBucket } from "../format/bucket.ts";

export class Namespaces {
  /** Own first, then the read prefixes. */
  readonly readers: CacheBucket[];

  constructor(readonly own: CacheBucket, readPrefixes: CacheBucket[] = []) {
    this.readers = [own, ...readPrefixes];
  }

  /** The first trusted record of the action, and the namespace it is in. */
  findRecord(actionId: string): Promise<{ bucket: CacheBucket; record: AxRecord } | undefined> {
    return firstIn(this.readers, (b) => b.getRecord(actionId).then((record) => record && { bucket: b, record }));
  }

  /** The first trusted manifest pointer of the action, and the namespace it is in. */
  findManifest(actionId: string): Promise<{ bucket: CacheBucket; key: string } | undefined> {
    return firstIn(this.readers, (b) => b.getManifestPointer(actionId).then((key) => (key ? { bucket: b, key } : undefined)));
  }
}

/**
 * Asks every namespace at once; the first defined answer in order wins. A
 * namespace that fails does not hide a later one's answer; when none has
 * one, the first failure is thrown (a miss is only a miss when every
 * namespace said so).
 */
async function firstIn<T>(readers: CacheBucket[], ask: (b: CacheBucket) => Promise<T | undefined>): Promise<T | undefined> {
  if (readers.length === 1) return ask(readers[0]!);
  const answers = await Promise.allSettled(readers.map(ask));
  for (const a of answers) if (a.status === "fulfilled" && a.value !== undefined) return a.value;
  const failed = answers.find((a) => a.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return undefined;
}
