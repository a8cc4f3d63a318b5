import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Journal, STALE_MS, parseJournal } from "../../src/remote/journal.ts";
import { pidSpace } from "../../src/store/identity.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);

const hex = (c: string, n: number) => (c + n.toString(16)).padEnd(64, "0");
const job = (n: number) => ({ actionId: hex("a", n), outputId: hex("b", n), size: n, timeNanos: 1700000000000000000n + BigInt(n) });
const putLine = (n: number) => `put ${job(n).actionId} ${job(n).outputId} ${n} ${job(n).timeNanos}\n`;
const jobs = (path: string) => parseJournal(readFileSync(path, "latin1")).jobs;
const DEAD = 2 ** 22 + 12345; // above the default pid_max: no such process
const old = (path: string) => utimesSync(path, new Date(Date.now() - STALE_MS - 60_000), new Date(Date.now() - STALE_MS - 60_000));

describe("Journal", () => {
  test("records a put before it is done and forgets it after", () => {
    const j = new Journal(tempDir("journal"));
    expect(j.add(job(1))).toBe(true);
    j.add(job(2));
    expect(jobs(j.path)).toEqual([job(1), job(2)]);
    j.done(job(1).actionId);
    expect(jobs(j.path)).toEqual([job(2)]);
    j.done(job(2).actionId);
    expect(readFileSync(j.path, "latin1")).toBe(""); // truncated when nothing is pending
    j.close();
    expect(existsSync(j.path)).toBe(false);
  });

  test("a journal with pending entries survives close", () => {
    const j = new Journal(tempDir("journal"));
    j.add(job(3));
    j.close();
    expect(jobs(j.path)).toEqual([job(3)]);
  });

  test("adopts a dead writer's journal at once, a live or foreign one only when stale, and leaves no claim behind", () => {
    const dir = tempDir("journal");
    mkdirSync(dir, { recursive: true });
    const deadName = `${pidSpace()}-${DEAD}-0000abcd.log`;
    writeFileSync(join(dir, deadName), `${putLine(4)}${putLine(5)}done ${job(4).actionId}\n`);
    const liveName = `${pidSpace()}-${process.ppid}-0000beef.log`;
    writeFileSync(join(dir, liveName), putLine(6));
    const foreignFresh = `ffffffff-${DEAD}-00001234.log`; // another container: age decides
    writeFileSync(join(dir, foreignFresh), putLine(7));
    const foreignStale = `eeeeeeee-${DEAD}-00005678.log`;
    writeFileSync(join(dir, foreignStale), putLine(8));
    old(join(dir, foreignStale));
    const legacy = `${DEAD}-abc.log.claim-77`; // a claim stranded by the old scheme
    writeFileSync(join(dir, legacy), putLine(9));
    old(join(dir, legacy));
    const j = new Journal(dir);
    const { jobs: adopted } = j.adoptOrphans();
    expect(adopted.map((x) => x.size).sort()).toEqual([5, 8, 9]);
    expect(readdirSync(dir).sort()).toEqual([foreignFresh, liveName, j.path.split("/").at(-1)!].sort());
    expect(jobs(j.path).map((x) => x.size).sort()).toEqual([5, 8, 9]);
  });

  test("a journal line that is not exactly one of the two forms is skipped and counted", () => {
    const traversal = `put ${job(1).actionId} ../../secret.txt 3 4`;
    const text = [putLine(1).trim(), traversal, `put ${"A".repeat(64)} ${job(2).outputId} 1 2`, "garbage", `put ${job(3).actionId} ${job(3).outputId} 99999999999999999 1`, `done ${job(1).actionId}`, putLine(2).trim(), `put ${job(5).actionId}`].join("\n");
    const r = parseJournal(text);
    expect(r.jobs).toEqual([job(2)]);
    expect(r.badLines).toBe(5);
  });

  test("an unwritable journal directory: add says so, the job stays pending in memory, done and close do not throw", () => {
    const base = tempDir("journal");
    writeFileSync(join(base, "journal"), "a file where the directory should be");
    const j = new Journal(join(base, "journal"));
    expect(j.add(job(1))).toBe(false);
    expect(j.size).toBe(1);
    expect(j.unjournaled).toBe(1);
    expect(String(j.lastError)).toMatch(/EEXIST|ENOTDIR/);
    j.done(job(1).actionId);
    expect(j.size).toBe(0);
    expect(() => j.close()).not.toThrow();
    chmodSync(base, 0o700);
  });
});
