import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, symlinkSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UseMarks, traceId } from "../../src/remote/usage.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);
const m = (a: string, o: string) => ({ actionId: a.repeat(64), outputId: o.repeat(64), size: 1, timeNanos: 1n });

describe("traceId", () => {
  test("names the set of entries, whatever order they were used in", () => {
    expect(traceId([m("a", "1"), m("b", "2")])).toBe(traceId([m("b", "2"), m("a", "1")]));
    expect(traceId([m("a", "1"), m("b", "2")])).not.toBe(traceId([m("a", "1"), m("b", "3")]));
    expect(traceId([m("a", "1")])).toMatch(/^[0-9a-f]{16}-1$/);
  });
});

describe("SessionLedger.traceId", () => {
  test("is kept up to date as the session uses entries, and equals traceId of what it used", () => {
    const { SessionLedger } = require("../../src/remote/ledger.ts");
    const s = new SessionLedger();
    const use = (e: ReturnType<typeof m>) => s.noteUse(e.actionId, { outputId: e.outputId, size: 1, timeNanos: 1n });
    use(m("a", "1")); use(m("b", "2")); use(m("a", "1"));
    expect(s.traceId).toBe(traceId([m("b", "2"), m("a", "1")]));
    use(m("a", "3")); // the action's output changed: the old mapping no longer counts
    expect(s.traceId).toBe(traceId([m("a", "3"), m("b", "2")]));
  });
});

describe("UseMarks", () => {
  test("due until marked, then not within the interval, then due again", () => {
    const marks = new UseMarks(join(tempDir("uses"), "uses"), 1000);
    expect(marks.due("x", 10_000)).toBe(true);
    marks.mark("x", 10_000);
    expect(marks.due("x", 10_500)).toBe(false);
    expect(marks.due("x", 11_000)).toBe(true);
    marks.mark("x", 11_000);
    expect(marks.due("x", 11_999)).toBe(false);
  });

  test("never writes through a link planted in its place", () => {
    const dir = join(tempDir("uses"), "uses");
    mkdirSync(dir);
    const outside = join(tempDir("outside"), "f");
    writeFileSync(outside, "keep");
    symlinkSync(outside, join(dir, "x"));
    new UseMarks(dir, 1000).mark("x");
    expect(readFileSync(outside, "utf8")).toBe("keep");
  });

  test("keeps at most its bound of markers, dropping the oldest", () => {
    const dir = join(tempDir("uses"), "uses");
    const marks = new UseMarks(dir, 1000, 10);
    for (let i = 0; i < 12; i++) marks.mark(`m${i}`, 1_000_000 + i * 1000);
    const names = readdirSync(dir).sort();
    expect(names.length).toBe(10);
    expect(names).not.toContain("m0");
    expect(names).not.toContain("m1");
    expect(names).toContain("m11");
  });
});
