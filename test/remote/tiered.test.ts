/** TieredCache and its remote reads (remote-reads.ts) with a scripted remote tier (unit level; the real one is tested in test/e2e/s3.test.ts). */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { LocalStore } from "../../src/store/local.ts";
import { UseMarks } from "../../src/remote/usage.ts";
import { Journal } from "../../src/remote/journal.ts";
import { TieredCache } from "../../src/remote/tiered.ts";
import type { Entry } from "../../src/store/store.ts";
import type { WorkerEvents, WorkerHandle } from "../../src/remote/worker/handle.ts";
import type { FetchOutcome } from "../../src/remote/worker/messages.ts";
import { createLogger } from "../../src/log.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);
const hex = (s: string | Uint8Array) => createHash("sha256").update(s).digest("hex");

function setup(outcome: (actionId: string) => FetchOutcome | Promise<FetchOutcome>, opts: { readOnly?: boolean; minUploadSize?: number } = {}) {
  const dir = tempDir("tiered");
  const local = new LocalStore({ dir });
  const calls: string[] = [];
  const uploads: string[] = [];
  const warnings: string[] = [];
  const worker = {
    start() {},
    fetch: async (id: string) => { calls.push(id); return outcome(id); },
    upload: (job: { actionId: string }) => void uploads.push(job.actionId),
    endSession: async () => ({}),
    terminate() {},
  } as unknown as WorkerHandle;
  const journal = opts.readOnly ? undefined : new Journal(`${dir}/journal`);
  const log = createLogger({ verbose: false, debug: false, write: (l) => void warnings.push(l) });
  let events!: WorkerEvents;
  const cache = new TieredCache({ local, worker: (e) => ((events = e), worker), journal, uses: opts.readOnly ? undefined : new UseMarks(`${dir}/uses`, 60_000), minUploadSize: opts.minUploadSize ?? 0, uploadTimeoutMs: 100, log });
  return { cache, local, calls, uploads, warnings, journal, events };
}

describe("TieredCache", () => {
  test("concurrent gets of one action share one remote fetch", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = setup(async () => { await gate; return { miss: "no-action" }; });
    const a = t.cache.get(hex("x"));
    const b = t.cache.get(hex("x"));
    release();
    expect(await a).toBeUndefined();
    expect(await b).toBeUndefined();
    expect(t.calls.length).toBe(1);
  });

  test("a remote miss is remembered for the rest of the process", async () => {
    const t = setup(() => ({ miss: "no-action" }));
    await t.cache.get(hex("m"));
    expect(t.cache.get(hex("m"))).toBeUndefined(); // synchronous: no second fetch
    expect(t.calls.length).toBe(1);
  });

  test("a remote failure is a miss with one warning; three in a row pause remote reads", async () => {
    const t = setup(() => ({ error: { kind: "TimeoutError", message: "[s3] read action x: timed out" } }));
    for (const id of ["e1", "e2", "e3"]) expect(await t.cache.get(hex(id))).toBeUndefined();
    expect(t.calls.length).toBe(3);
    expect(t.cache.get(hex("e4"))).toBeUndefined(); // paused: answered at once, no fetch
    expect(t.calls.length).toBe(3);
    expect(t.warnings.filter((w) => w.includes("answering a miss")).length).toBe(1);
    expect(t.warnings.filter((w) => w.includes("treating remote reads as misses")).length).toBe(1);
    expect(t.cache.counters.errors).toBe(3);
  });

  test("a digest mismatch is a miss, counted and logged", async () => {
    const t = setup(() => ({ miss: "digest-mismatch", detail: "output abc has SHA-256 def" }));
    expect(await t.cache.get(hex("d"))).toBeUndefined();
    expect(t.cache.counters.corrupt).toBe(1);
    expect(t.warnings.join("")).toContain("tampered or corrupt");
  });

  test("puts are journaled and uploaded; small ones and read-only mode are not", () => {
    const body = new TextEncoder().encode("0123456789");
    const put = (t: ReturnType<typeof setup>, label: string) => {
      const sink = t.cache.put({ actionId: hex(label), outputId: hex(body), size: body.length });
      sink.write(body);
      return sink.commit();
    };
    const t = setup(() => ({ miss: "no-action" }));
    put(t, "p");
    expect(t.uploads).toEqual([hex("p")]);
    expect(t.journal!.size).toBe(1);
    t.events.uploaded(hex("p"), "written", 10, 4);
    expect(t.journal!.size).toBe(0);

    const small = setup(() => ({ miss: "no-action" }), { minUploadSize: 100 });
    put(small, "s");
    expect(small.uploads).toEqual([]);
    expect(small.cache.uploads.counters.uploadsSkippedSmall).toBe(1);

    const ro = setup(() => ({ miss: "no-action" }), { readOnly: true });
    put(ro, "r");
    expect(ro.uploads).toEqual([]);
  });

  test.each([
    ["before the get: the get is a local hit on the record it carried", true],
    ["after the get (which the worker answered from the same prefetch)", false],
  ])("prefetch's report arriving %s counts one prefetch hit and no waste", async (_when, reportFirst) => {
    const body = new TextEncoder().encode("prefetched");
    const record = { outputId: hex(body), size: body.length, timeNanos: 7n };
    const t = setup(() => ({ hit: record, bytes: body.length, prefetched: true }));
    const session = t.cache.openSession();
    t.local.putObjectBytes(record.outputId, body); // the worker installs the object only
    if (reportFirst) t.events.prefetched(session.id, hex("pf"), body.length, body.length, record);
    const got = t.cache.get(hex("pf"), session);
    expect(got instanceof Promise).toBe(!reportFirst);
    expect((await got)?.outputId).toBe(record.outputId);
    if (!reportFirst) t.events.prefetched(session.id, hex("pf"), body.length, body.length, record);
    await t.cache.closeSession(session, false);
    expect(t.cache.counters.prefetchHits).toBe(1);
    expect(t.cache.counters.prefetchWastedBytes).toBe(0);
    expect(t.local.getAction(hex("pf"))).toEqual(record);
  });

  test("a get for a pack entry is installed from the pack at once, verified, with no remote fetch; unused ones count as waste", async () => {
    const t = setup(() => ({ miss: "no-action" }));
    const session = t.cache.openSession();
    const bodies = ["one", "two"].map((b) => new TextEncoder().encode(b));
    const packed = bodies.map((b, i) => ({ entry: { actionId: hex(`pack ${i}`), outputId: hex(b), size: b.length, timeNanos: 5n }, bytes: b }));
    t.events.packFound(session.id, packed, 6, 6);
    const got = t.cache.get(hex("pack 0"), session);
    expect(got instanceof Promise).toBe(false); // answered synchronously
    expect((got as Entry).outputId).toBe(hex(bodies[0]!));
    expect(await Bun.file((got as Entry).diskPath).text()).toBe("one");
    expect(t.local.get(hex("pack 0"))?.outputId).toBe(hex(bodies[0]!));
    expect(t.calls).toEqual([]);
    await t.cache.closeSession(session, false);
    expect(t.cache.counters.prefetchHits).toBe(1);
    expect(t.cache.counters.prefetchWastedBytes).toBe(3); // "two" came in the pack and was never asked for
  });

  test("a pack entry whose bytes do not match its output ID is never installed: counted, logged, fetched on its own", async () => {
    const t = setup(() => ({ miss: "no-action" }));
    const session = t.cache.openSession();
    const entry = { actionId: hex("bad"), outputId: hex("good bytes"), size: 9, timeNanos: 5n };
    t.events.packFound(session.id, [{ entry, bytes: new TextEncoder().encode("bad bytes") }], 9, 9);
    expect(await t.cache.get(hex("bad"), session)).toBeUndefined();
    expect(t.local.get(hex("bad"))).toBeUndefined();
    expect(t.calls).toEqual([hex("bad")]);
    expect(t.cache.counters.corrupt).toBe(1);
    expect(t.warnings.join("")).toContain("from the manifest pack");
  });

  test("records of installed entries are written when the session ends; one that cannot be is one warning, not a failure", async () => {
    const t = setup(() => ({ miss: "no-action" }));
    const session = t.cache.openSession();
    const bodies = ["ok", "blocked"].map((b) => new TextEncoder().encode(b));
    const ids = [hex("rec ok"), hex("rec blocked")];
    t.events.packFound(session.id, bodies.map((b, i) => ({ entry: { actionId: ids[i]!, outputId: hex(b), size: b.length, timeNanos: 3n }, bytes: b })), 9, 9);
    for (const id of ids) expect(t.cache.get(id, session)).toBeDefined();
    expect(Bun.file(t.local.layout.actionPath(ids[0]!)).size).toBe(0); // held in memory during the session
    await Bun.write(t.local.layout.actionPath(ids[1]!).replace(/\/[^/]+$/, ""), "a file where the shard directory goes");
    await t.cache.closeSession(session, true);
    expect(await Bun.file(t.local.layout.actionPath(ids[0]!)).text()).toStartWith(hex(bodies[0]!));
    expect(t.warnings.filter((w) => w.includes("action records of installed entries not written")).length).toBe(1);
  });

  test("close waits for pending uploads up to the bound and keeps the rest journaled", async () => {
    const t = setup(() => ({ miss: "no-action" }));
    const sink = t.cache.put({ actionId: hex("w"), outputId: hex(""), size: 0 });
    sink.commit();
    const started = performance.now();
    await t.cache.close();
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    expect(t.warnings.join("")).toContain("1 of 1 uploads still pending");
    expect(t.journal!.size).toBe(1);
  });
});
