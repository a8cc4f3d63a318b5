/**
 * A hostile or broken bucket cannot exhaust the plugin's memory or break a
 * build: a 1 GB action record, a huge announced ax record, a gzip-bomb
 * manifest, a manifest of a million entries.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BINARY, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { actionId, line } from "../support/plugin.ts";
import { announcedHuge, bytes, endless, startHostileBucket } from "../support/hostile-bucket.ts";
import { isolatedGoEnv, runGo, sampleModule } from "../support/go.ts";

afterAll(cleanupTempDirs);

const BUCKET = "hostile";
const hex = (label: string) => Buffer.from(actionId(label), "base64").toString("hex");
const bomb = Bun.gzipSync(new Uint8Array(200 << 20)); // 200 MB of zeros in ~200 KB
const million = Bun.gzipSync(new TextEncoder().encode(`${"a".repeat(64)} ${"b".repeat(64)} 10 1700000000000000000\n`.repeat(1_000_000)));
const env = { AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y" };

function hostile() {
  return startHostileBucket(BUCKET, (key) => {
    if (key.startsWith("action/")) return endless(0x61);
    if (key.startsWith("ax/")) return announcedHuge();
    if (key === `manifest-index/${hex("bomb").slice(0, 2)}/${hex("bomb")}`) return bytes(new TextEncoder().encode("manifest/" + "1".repeat(64)));
    if (key === `manifest-index/${hex("million").slice(0, 2)}/${hex("million")}`) return bytes(new TextEncoder().encode("manifest/" + "2".repeat(64)));
    if (key === `manifest/${"1".repeat(64)}`) return bytes(bomb);
    if (key === `manifest/${"2".repeat(64)}`) return bytes(million);
    if (key.startsWith("manifest-index/")) return endless(0x6d);
    return undefined;
  });
}
const flags = (endpoint: string) => ["--bucket", BUCKET, "--s3-endpoint-url", endpoint, "--s3-path-style", "--region", "us-east-1"];

describe("a hostile bucket", () => {
  test.each([
    ["a gzip-bomb manifest", "bomb", "1"],
    ["a manifest of a million entries", "million", "2"],
  ])("a 1 GB action record, a huge announced ax record and %s: every get a miss, memory stays bounded", async (_name, first, digit) => {
    const bucket = hostile();
    try {
      const labels = [first, "plain1", "plain2"];
      const proc = Bun.spawn([BINARY, "--cache-dir", tempDir("hostile"), ...flags(bucket.endpoint)], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
      let out = "";
      const reading = (async () => { for await (const c of proc.stdout) out += new TextDecoder().decode(c); })();
      const errText = new Response(proc.stderr).text();
      proc.stdin.write(labels.map((l, i) => line({ ID: i + 1, Command: "get", ActionID: actionId(l) })).join(""));
      for (let i = 0; i < 200 && (out.match(/"Miss":true/g)?.length ?? 0) < labels.length; i++) await Bun.sleep(50);
      await Bun.sleep(1500); // let the worker read the manifests and packs it was pointed at
      const hwmKiB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"))![1]);
      proc.stdin.write(line({ ID: 99, Command: "close" }));
      proc.stdin.end();
      expect(await proc.exited).toBe(0);
      await reading;
      const stderr = await errText;
      expect(out.match(/"Miss":true/g)?.length).toBe(labels.length);
      expect(hwmKiB).toBeLessThan(300 * 1024);
      expect(bucket.asked).toContain(`manifest/${digit.repeat(64)}`); // the manifest really was offered
      expect(stderr).toContain("over its bounds; not prefetching"); // the refused manifest is named, once
    } finally {
      bucket.stop();
    }
  }, 60_000);

  test("a go build against it succeeds", async () => {
    const bucket = hostile();
    try {
      const r = await runGo(["build", "./..."], {
        cwd: sampleModule("hostile"),
        env: { ...isolatedGoEnv(), ...env, GOCACHEPROG: `${BINARY} --cache-dir ${tempDir("hostilego")} ${flags(bucket.endpoint).join(" ")}` },
      });
      if (r.exitCode !== 0) throw new Error(r.stderr);
      expect(bucket.asked.some((k) => k.startsWith("action/"))).toBe(true);
    } finally {
      bucket.stop();
    }
  }, 120_000);
});
