/**
 * A full disk (a small tmpfs in a private mount namespace): puts, fault-ins
 * of inline and streamed outputs, the journal and the held action records.
 * Afterwards no file under a final name is truncated or wrong, and a later
 * run with space serves correct entries or misses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { actionId, line, putFrame, runPlugin, sha256, type Reply } from "../support/plugin.ts";
import { checkStore } from "../support/store.ts";
import { inMountNamespace } from "../support/namespace.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, listKeys, pluginS3Env, s3Flags } from "../support/bucket.ts";

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); cleanupTempDirs(); });

const bodies = (label: string, sizes: number[]) => sizes.map((n, i) => ({ action: actionId(`${label}${i}`), bytes: new Uint8Array(n).map((_, j) => (j * 31 + i) & 255) }));
const gets = (items: { action: string }[]) => items.map((it, i) => line({ ID: i + 1, Command: "get", ActionID: it.action })).join("") + line({ ID: 999, Command: "close" });
const parse = (text: string): Reply[] => text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/**
 * Runs the plugin twice on a cache directory that is a tmpfs of `sizeKiB`
 * (the second time grown to 64 MiB), snapshotting the directory after each.
 */
async function twoRuns(opts: { sizeKiB: number; input1: string; input2: string; flags?: string[]; env?: Record<string, string> }) {
  const work = tempDir("full");
  const mnt = join(work, "mnt");
  mkdirSync(mnt);
  writeFileSync(join(work, "in1"), opts.input1);
  writeFileSync(join(work, "in2"), opts.input2);
  const run = (n: number) => `${q(BINARY)} --cache-dir ${q(join(mnt, "c"))} ${(opts.flags ?? []).map(q).join(" ")} < ${q(join(work, `in${n}`))} > ${q(join(work, `out${n}`))} 2> ${q(join(work, `err${n}`))} || echo $? > ${q(join(work, `rc${n}`))}
cp -a ${q(join(mnt, "c"))} ${q(join(work, `snap${n}`))}`;
  const r = await inMountNamespace(`mount -t tmpfs -o size=${opts.sizeKiB}k tmpfs ${q(mnt)}
${run(1)}
mount -o remount,size=64m ${q(mnt)}
${run(2)}`, opts.env);
  if (r.code !== 0) throw new Error(`namespace script failed (${r.code}): ${r.stderr}`);
  const read = (name: string) => { try { return readFileSync(join(work, name), "utf8"); } catch { return ""; } };
  return {
    work, mnt,
    replies: [parse(read("out1")), parse(read("out2"))] as const,
    stderr: [read("err1"), read("err2")] as const,
    exit: [Number(read("rc1") || 0), Number(read("rc2") || 0)] as const,
    snap: [join(work, "snap1"), join(work, "snap2")] as const,
  };
}

/** A hit must name an object of the right size whose bytes are the expected ones (in the snapshot). */
function expectHitsCorrect(replies: Reply[], items: { bytes: Uint8Array }[], r: { mnt: string }, snap: string) {
  let hits = 0;
  for (const reply of replies) {
    if (reply.ID === 0 || reply.ID === 999 || reply.Miss || reply.Err) continue;
    const it = items[reply.ID - 1]!;
    expect(reply.Size).toBe(it.bytes.length);
    expect(reply.OutputID).toBe(Buffer.from(sha256(it.bytes)).toString("base64"));
    const inSnap = join(snap, reply.DiskPath!.slice(join(r.mnt, "c").length));
    expect(sha256(readFileSync(inSnap)).toString("hex")).toBe(sha256(it.bytes).toString("hex"));
    hits++;
  }
  return hits;
}

describe("a full disk", () => {
  test("puts: those that do not fit are an Err, nothing truncated is kept; with space, gets are correct hits or misses", async () => {
    const items = bodies("put", [20_000, 30_000, 40_000, 25_000, 50_000, 35_000, 45_000, 60_000]);
    const r = await twoRuns({
      sizeKiB: 128,
      input1: items.map((it, i) => putFrame(i + 1, it.action, it.bytes)).join("") + line({ ID: 999, Command: "close" }),
      input2: gets(items),
    });
    const errs = r.replies[0].filter((x) => x.Err);
    expect(errs.length).toBeGreaterThan(0); // the disk really was full
    expect(errs.every((x) => /ENOSPC|no space|no progress/i.test(x.Err!))).toBe(true);
    expect(r.replies[0].filter((x) => x.ID >= 1 && x.ID <= items.length).length).toBe(items.length); // every put answered
    expect(checkStore(r.snap[0]).problems).toEqual([]);
    const okIds = new Set(r.replies[0].filter((x) => x.ID >= 1 && x.ID <= items.length && !x.Err).map((x) => x.ID));
    const hits = expectHitsCorrect(r.replies[1], items, r, r.snap[1]);
    expect(hits).toBe(okIds.size); // what was acknowledged is served, what failed is a miss
    expect(r.exit).toEqual([0, 0]);
  });

  test("fault-in of inline and streamed outputs: misses, never a short file; with space, correct hits", async () => {
    const bucket = bucketName("full");
    await s3.createBucket(bucket);
    const items = bodies("fault", [40_000, 40_000, 40_000, 300_000, 90_000]);
    const seed = await runPlugin(["--cache-dir", tempDir("seed"), ...s3Flags(s3, bucket)], items.map((it, i) => putFrame(i + 1, it.action, it.bytes)).join("") + line({ ID: 999, Command: "close" }), pluginS3Env(s3));
    expect(seed.exitCode).toBe(0);
    expect((await listKeys(s3, bucket)).filter((k) => k.startsWith("ax/")).length).toBe(items.length);
    const r = await twoRuns({ sizeKiB: 96, input1: gets(items), input2: gets(items), flags: s3Flags(s3, bucket), env: pluginS3Env(s3) });
    const misses1 = r.replies[0].filter((x) => x.Miss).length;
    expect(misses1).toBeGreaterThan(0);
    expectHitsCorrect(r.replies[0], items, r, r.snap[0]);
    expect(r.stderr[0]).toContain("[local]");
    expect(r.stderr[0]).not.toContain("tampered"); // the bucket is not blamed for our disk
    expect(checkStore(r.snap[0]).problems.filter((p) => !p.startsWith("action"))).toEqual([]);
    expect(expectHitsCorrect(r.replies[1], items, r, r.snap[1])).toBe(items.length);
    expect(checkStore(r.snap[1]).problems).toEqual([]);
  });

  test("a full journal: puts still answered and stored, uploaded anyway, exit prompt and its message true", async () => {
    const bucket = bucketName("fulljournal");
    await s3.createBucket(bucket);
    const items = bodies("journal", [1000, 2000, 3000]);
    const work = tempDir("fulljournal");
    const cache = join(work, "c");
    const journal = join(cache, "v1", "journal");
    mkdirSync(journal, { recursive: true, mode: 0o700 });
    writeFileSync(join(work, "in"), items.map((it, i) => putFrame(i + 1, it.action, it.bytes)).join("") + line({ ID: 999, Command: "close" }));
    const t0 = Date.now();
    const r = await inMountNamespace(`mount -t tmpfs -o size=4k tmpfs ${q(journal)}
dd if=/dev/zero of=${q(join(journal, "fill"))} bs=4k count=1 2>/dev/null || true
${q(BINARY)} --cache-dir ${q(cache)} ${s3Flags(s3, bucket).map(q).join(" ")} < ${q(join(work, "in"))} > ${q(join(work, "out"))} 2> ${q(join(work, "err"))}`, pluginS3Env(s3));
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(30_000);
    const replies = parse(readFileSync(join(work, "out"), "utf8"));
    expect(replies.filter((x) => x.Err)).toEqual([]);
    const err = readFileSync(join(work, "err"), "utf8");
    expect(err).toContain("[journal] cannot record uploads");
    expect(err).not.toContain("kept in the journal");
    expect(checkStore(cache).actions).toBe(items.length);
    expect((await listKeys(s3, bucket)).filter((k) => k.startsWith("action/")).length).toBe(items.length);
  });

  test("full action-record directory: installed entries are served, the held records' flush warns once", async () => {
    const bucket = bucketName("fullrecords");
    await s3.createBucket(bucket);
    const items = bodies("records", [500, 600, 700, 800]);
    const seed = await runPlugin(["--cache-dir", tempDir("seed"), ...s3Flags(s3, bucket)], items.map((it, i) => putFrame(i + 1, it.action, it.bytes)).join("") + line({ ID: 999, Command: "close" }), pluginS3Env(s3));
    expect(seed.exitCode).toBe(0);
    const work = tempDir("fullrecords");
    const cache = join(work, "c");
    const records = join(cache, "v1", "a");
    mkdirSync(records, { recursive: true, mode: 0o700 });
    writeFileSync(join(work, "in"), gets(items));
    const r = await inMountNamespace(`mount -t tmpfs -o size=4k tmpfs ${q(records)}
dd if=/dev/zero of=${q(join(records, "fill"))} bs=4k count=1 2>/dev/null || true
${q(BINARY)} --cache-dir ${q(cache)} ${s3Flags(s3, bucket).map(q).join(" ")} < ${q(join(work, "in"))} > ${q(join(work, "out"))} 2> ${q(join(work, "err"))}`, pluginS3Env(s3));
    expect(r.code).toBe(0);
    const replies = parse(readFileSync(join(work, "out"), "utf8"));
    expect(replies.filter((x) => x.ID >= 1 && x.ID <= items.length && !x.Miss).length).toBe(items.length);
    const err = readFileSync(join(work, "err"), "utf8");
    expect(err.match(/action records of installed entries not written/g)?.length).toBe(1);
  });
});
