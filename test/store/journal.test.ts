import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Journal, parseJournal } from "../../src/store/journal.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);

const job = (n: number) => ({ actionId: `a${n}`.padEnd(64, "0"), outputId: `o${n}`.padEnd(64, "0"), size: n, timeNanos: 1700000000000000000n + BigInt(n) });

describe("Journal", () => {
  test("records a put before it is done and forgets it after", () => {
    const dir = tempDir("journal");
    const j = new Journal(dir);
    j.add(job(1));
    j.add(job(2));
    expect(parseJournal(readFileSync(j.path, "latin1"))).toEqual([job(1), job(2)]);
    j.done(job(1).actionId);
    expect(parseJournal(readFileSync(j.path, "latin1"))).toEqual([job(2)]);
    j.done(job(2).actionId);
    expect(readFileSync(j.path, "latin1")).toBe(""); // truncated when nothing is pending
    j.close();
    expect(existsSync(j.path)).toBe(false);
  });

  test("a journal with pending entries survives close", () => {
    const j = new Journal(tempDir("journal"));
    j.add(job(3));
    j.close();
    expect(parseJournal(readFileSync(j.path, "latin1"))).toEqual([job(3)]);
  });

  test("adopts the journals of dead processes, not of live ones", () => {
    const dir = tempDir("journal");
    mkdirSync(dir, { recursive: true });
    const dead = 2 ** 22 + 12345; // above the default pid_max: no such process
    writeFileSync(join(dir, `${dead}-abc.log`), `put ${job(4).actionId} ${job(4).outputId} 4 ${job(4).timeNanos}\nput ${job(5).actionId} ${job(5).outputId} 5 ${job(5).timeNanos}\ndone ${job(4).actionId}\n`);
    writeFileSync(join(dir, `${process.ppid}-live.log`), `put ${job(6).actionId} ${job(6).outputId} 6 ${job(6).timeNanos}\n`);
    const j = new Journal(dir);
    expect(j.adoptOrphans()).toEqual([job(5)]);
    expect(j.size).toBe(1);
    expect(readdirSync(dir).sort()).toEqual([`${process.ppid}-live.log`, j.path.split("/").at(-1)!].sort());
    expect(parseJournal(readFileSync(j.path, "latin1"))).toEqual([job(5)]);
  });

  test("ignores torn and malformed lines", () => {
    expect(parseJournal(`put a b 1 2\nput x y\ngarbage\nput c d 3 4\ndone c\nput e f 5`)).toEqual([{ actionId: "a", outputId: "b", size: 1, timeNanos: 2n }]);
  });
});
