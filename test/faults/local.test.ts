/**
 * The cache directory against what others may have put in or around it:
 * links out of it, a directory someone else owns or may write, journals
 * that lie (paths, non-hex IDs, a corrupt object behind a valid line).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";
import { actionId, line, putFrame, runPlugin, sha256 } from "../support/plugin.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { bucketName, listKeys, pluginS3Env, s3Flags } from "../support/bucket.ts";
import { pidSpace } from "../../src/store/identity.ts";

let s3: S3Server;
beforeAll(async () => { s3 = await startS3Server(); });
afterAll(async () => { await s3?.destroy(); cleanupTempDirs(); });

const close = line({ ID: 99, Command: "close" });
const old = (path: string, hours: number) => utimesSync(path, new Date(Date.now() - hours * 3600_000), new Date(Date.now() - hours * 3600_000));

describe("links and ownership", () => {
  test("trim with --expiry 1h --trim-interval 0 never deletes through linked shard directories or files", async () => {
    const cache = tempDir("links");
    const outside = tempDir("outside");
    const victims = ["00", "ab"].map((n) => join(outside, n));
    for (const v of victims) {
      mkdirSync(v);
      const f = join(v, "f".repeat(64));
      writeFileSync(f, "precious");
      old(f, 1000);
    }
    mkdirSync(join(cache, "v1", "o"), { recursive: true, mode: 0o700 });
    mkdirSync(join(cache, "v1", "a"), { recursive: true, mode: 0o700 });
    symlinkSync(victims[0]!, join(cache, "v1", "o", "00"));
    symlinkSync(victims[1]!, join(cache, "v1", "a", "ab"));
    mkdirSync(join(cache, "v1", "o", "cd"));
    const outsideFile = join(outside, "file");
    writeFileSync(outsideFile, "precious too");
    old(outsideFile, 1000);
    symlinkSync(outsideFile, join(cache, "v1", "o", "cd", "c".repeat(64)));
    const r = await runPlugin(["--cache-dir", cache, "--expiry", "1h", "--trim-interval", "0", "-v"], close);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain("trim:");
    for (const v of victims) expect(readFileSync(join(v, "f".repeat(64)), "utf8")).toBe("precious");
    expect(readFileSync(outsideFile, "utf8")).toBe("precious too");
  });

  test.each([
    ["writable by others", (d: string) => chmodSync(d, 0o777), /group or others may write/],
    ["writable by the group", (d: string) => chmodSync(d, 0o770), /group or others may write/],
    ["owned by another user", (d: string) => chownSync(d, 65534, 65534), /belongs to uid 65534/],
  ])("a cache directory %s is refused with one clear line, and accepted with --cache-dir-shared", async (_name, spoil, message) => {
    const dir = join(tempDir("owner"), "cache");
    mkdirSync(dir);
    spoil(dir);
    const refused = await runPlugin(["--cache-dir", dir], close);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(message);
    expect(refused.stderr).toContain("--cache-dir-shared");
    expect(existsSync(join(dir, "v1"))).toBe(false);
    const shared = await runPlugin(["--cache-dir", dir, "--cache-dir-shared"], putFrame(1, actionId("s"), new TextEncoder().encode("ok")) + close);
    expect(shared.exitCode).toBe(0);
    expect(shared.replies.find((x) => x.ID === 1)?.Err).toBeUndefined();
  });

  test("a new cache directory is created 0700; a v1 that is a link is refused", async () => {
    const dir = join(tempDir("mode"), "new", "cache");
    expect((await runPlugin(["--cache-dir", dir], close)).exitCode).toBe(0);
    const { statSync } = await import("node:fs");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const linked = join(tempDir("v1link"), "cache");
    mkdirSync(linked, { mode: 0o700 });
    symlinkSync(tempDir("elsewhere"), join(linked, "v1"));
    const r = await runPlugin(["--cache-dir", linked], close);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("is not a directory (a link or a file)");
  });
});

describe("journal replay", () => {
  test("lines with paths or non-hex IDs are skipped (nothing outside read or uploaded); a corrupt object is removed, not uploaded", async () => {
    const bucket = bucketName("replay");
    await s3.createBucket(bucket);
    const cache = tempDir("replay");
    const good = new TextEncoder().encode("a good output");
    // A real entry, stored but never uploaded (read-only run), then journaled by hand.
    const seeded = await runPlugin(["--cache-dir", cache], putFrame(1, actionId("good"), good) + putFrame(2, actionId("bad"), new TextEncoder().encode("will be damaged")) + close);
    expect(seeded.exitCode).toBe(0);
    const hex = (b64: string) => Buffer.from(b64, "base64").toString("hex");
    const goodOut = sha256(good).toString("hex");
    const badOut = sha256(new TextEncoder().encode("will be damaged")).toString("hex");
    writeFileSync(join(cache, "v1", "o", badOut.slice(0, 2), badOut), "17 bytes of junk!"); // corrupt in place
    const secret = join(tempDir("secret"), "secret.txt");
    writeFileSync(secret, "do not upload me");
    const t = 1700000000000000000n;
    const lines = [
      `put ${hex(actionId("good"))} ${goodOut} ${good.length} ${t}`,
      `put ${hex(actionId("bad"))} ${badOut} 15 ${t}`,
      `put ${hex(actionId("evil"))} ../../../../${secret} 16 ${t}`,
      `put ../../etc/passwd ${goodOut} 1 ${t}`,
      `put ${"Z".repeat(64)} ${goodOut} 1 ${t}`,
    ];
    mkdirSync(join(cache, "v1", "journal"), { recursive: true });
    writeFileSync(join(cache, "v1", "journal", `${pidSpace()}-${2 ** 22 + 7}-00c0ffee.log`), lines.join("\n") + "\n");
    const r = await runPlugin(["--cache-dir", cache, "-v", ...s3Flags(s3, bucket)], close, pluginS3Env(s3));
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain("skipped 3 malformed lines");
    expect(r.stderr).toContain("resuming 2 uploads");
    const keys = await listKeys(s3, bucket);
    expect(keys).toContain(`zoutput/${goodOut.slice(0, 2)}/${goodOut}`);
    expect(keys).not.toContain(`zoutput/${badOut.slice(0, 2)}/${badOut}`);
    expect(keys.filter((k) => /^z?output\//.test(k))).toHaveLength(1);
    expect(existsSync(join(cache, "v1", "o", badOut.slice(0, 2), badOut))).toBe(false); // removed: rebuilt next time
    expect(r.stderr).toContain("does not match its record");
    expect(readdirSync(join(cache, "v1", "journal"))).toEqual([]);
  });
});
