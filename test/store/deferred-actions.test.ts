/** DeferredActions (through LocalStore): records held in memory, written on flush, newest always wins. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { LocalStore } from "../../src/store/local.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);
const hex = (s: string) => createHash("sha256").update(s).digest("hex");
const rec = (out: string, t: bigint) => ({ outputId: hex(out), size: out.length, timeNanos: t });

describe("DeferredActions", () => {
  test("a held record is answered at once, written by flush, and read back by another process's store", async () => {
    const dir = tempDir("deferred");
    const local = new LocalStore({ dir });
    local.deferred.put(hex("a"), rec("x", 1n));
    expect(local.getAction(hex("a"))).toEqual(rec("x", 1n));
    expect(new LocalStore({ dir }).getAction(hex("a"))).toBeUndefined(); // not on disk yet
    await local.close();
    expect(local.deferred.size).toBe(0);
    expect(new LocalStore({ dir }).getAction(hex("a"))).toEqual(rec("x", 1n));
  });

  test.each([
    ["before a flush", false],
    ["while a flush is writing the held one", true],
  ])("a put of the same action %s wins", async (_when, duringFlush) => {
    const dir = tempDir("deferred");
    const local = new LocalStore({ dir });
    local.deferred.put(hex("a"), rec("old", 1n));
    const flushing = duringFlush ? local.deferred.flush() : undefined;
    local.putAction(hex("a"), rec("new", 2n));
    expect(local.getAction(hex("a"))).toEqual(rec("new", 2n));
    await flushing;
    await local.close();
    expect(new LocalStore({ dir }).getAction(hex("a"))).toEqual(rec("new", 2n));
  });

  test("a record that cannot be written is counted with its reason, and dropped", async () => {
    const dir = tempDir("deferred");
    const local = new LocalStore({ dir });
    mkdirSync(`${dir}/v1/a`, { recursive: true });
    await Bun.write(`${dir}/v1/a/${hex("a").slice(0, 2)}`, "a file where the shard directory goes");
    local.deferred.put(hex("a"), rec("x", 1n));
    await local.close();
    expect(local.deferred.failures).toBe(1);
    expect(String(local.deferred.lastError)).toContain(`[local] write action ${hex("a")}`);
    expect(local.deferred.size).toBe(0);
  });
});
