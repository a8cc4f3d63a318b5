/**
 * Long request streams through the binary in direct mode, from a file and
 * from a pipe: request lines and bodies land across every read boundary
 * (direct mode reads 64 KiB at a time into one buffer), and every put must
 * be answered, none malformed.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { actionId, line, putFrame } from "../support/plugin.ts";

afterAll(cleanupTempDirs);

describe("a long put stream", () => {
  test.each(["file", "pipe"] as const)("from a %s: every put answered, nothing malformed, then every get a hit", async (via) => {
    const dir = tempDir("stream");
    const n = 3000;
    // Bodies of varying sizes, so that boundaries fall in request lines, blank lines and bodies alike.
    const frames = Array.from({ length: n }, (_, i) => putFrame(i + 1, actionId(`s${i}`), new Uint8Array(700 + ((i * 37) % 900)).fill(i % 251)));
    writeFileSync(join(dir, "puts"), frames.join("") + line({ ID: n + 1, Command: "close" }));
    writeFileSync(join(dir, "gets"), Array.from({ length: n }, (_, i) => line({ ID: i + 1, Command: "get", ActionID: actionId(`s${i}`) })).join("") + line({ ID: n + 1, Command: "close" }));
    const run = async (input: string) => {
      const cmd = via === "file" ? `'${binary()}' --cache-dir '${dir}/c' < '${input}'` : `cat '${input}' | '${binary()}' --cache-dir '${dir}/c'`;
      const p = Bun.spawn(["sh", "-c", cmd], { stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { replies: out.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { ID: number; Err?: string; Miss?: boolean; DiskPath?: string }), err, code };
    };
    const puts = await run(join(dir, "puts"));
    expect(puts.code).toBe(0);
    expect(puts.err).toBe("");
    expect(puts.replies.filter((r) => r.Err)).toEqual([]);
    expect(puts.replies.length).toBe(n + 2); // capability, puts, close
    const gets = await run(join(dir, "gets"));
    expect(gets.err).toBe("");
    expect(gets.replies.filter((r) => r.ID > 0 && r.ID <= n && r.DiskPath).length).toBe(n);
  }, 60_000);
});
