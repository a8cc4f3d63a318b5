/** Protocol tests: hand-written request streams into the compiled binary. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { actionId, b64, line, putFrame, reply, runPlugin, sha256 } from "../support/plugin.ts";

afterAll(cleanupTempDirs);

const close = (id: number) => line({ ID: id, Command: "close" });
const get = (id: number, label: string) => line({ ID: id, Command: "get", ActionID: actionId(label) });

describe("direct mode over stdin/stdout", () => {
  test("sends the capability message first, then answers get, put, get and close", async () => {
    const dir = tempDir("cache");
    const body = new TextEncoder().encode("object file contents\n".repeat(100));
    const r = await runPlugin(["--cache-dir", dir], get(1, "x") + putFrame(2, actionId("x"), body) + get(3, "x") + close(4));
    expect(r.exitCode).toBe(0);
    expect(r.replies[0]).toEqual({ ID: 0, KnownCommands: ["get", "put", "close"] });
    expect(reply(r, 1)).toEqual({ ID: 1, Miss: true });
    const put = reply(r, 2);
    expect(put.Err).toBeUndefined();
    const hit = reply(r, 3);
    expect(hit.OutputID).toBe(b64(sha256(body)));
    expect(hit.Size).toBe(body.length);
    expect(hit.DiskPath).toBe(put.DiskPath!);
    expect(hit.DiskPath!.startsWith(dir)).toBe(true);
    expect(Math.abs(Date.parse(hit.Time!) - Date.now())).toBeLessThan(60_000);
    expect(statSync(hit.DiskPath!).mode & 0o777).toBe(0o755);
    expect(readFileSync(hit.DiskPath!).equals(Buffer.from(body))).toBe(true);
    expect(r.replies.at(-1)).toEqual({ ID: 4 });
  });

  test.each(["022", "077", "000"])("objects are 0755 whatever the umask; records follow it (%s)", async (umask) => {
    const dir = tempDir("cache");
    const input = putFrame(1, actionId("u"), new TextEncoder().encode("a binary")) + close(2);
    const proc = Bun.spawn(["sh", "-c", `umask ${umask}; exec "$@"`, "sh", binary(), "--cache-dir", dir], { stdin: new Blob([input]), stdout: "pipe", stderr: "pipe" });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    const put = out.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.ID === 1);
    expect(statSync(put.DiskPath).mode & 0o777).toBe(0o755);
    const shard = join(dir, "v1", "a", Buffer.from(actionId("u"), "base64").toString("hex").slice(0, 2));
    const record = join(shard, readdirSync(shard)[0]!);
    expect(statSync(record).mode & 0o777).toBe(0o644 & ~Number.parseInt(umask, 8));
  });

  test("a hit keeps the stored time across processes", async () => {
    const dir = tempDir("cache");
    const body = new TextEncoder().encode("x");
    await runPlugin(["--cache-dir", dir], putFrame(1, actionId("t"), body) + close(2));
    await Bun.sleep(20);
    const a = reply(await runPlugin(["--cache-dir", dir], get(1, "t") + close(2)), 1);
    await Bun.sleep(20);
    const b = reply(await runPlugin(["--cache-dir", dir], get(1, "t") + close(2)), 1);
    expect(a.Time).toBeDefined();
    expect(a.Time).toBe(b.Time!);
  });

  test("accepts ObjectID (Go <= 1.23) and empty bodies", async () => {
    const dir = tempDir("cache");
    const body = new TextEncoder().encode("legacy");
    const r = await runPlugin(["--cache-dir", dir],
      putFrame(1, actionId("old"), body, "ObjectID") + putFrame(2, actionId("empty"), new Uint8Array(0)) + get(3, "old") + get(4, "empty") + close(5));
    expect(reply(r, 1).Err).toBeUndefined();
    expect(reply(r, 2).Err).toBeUndefined();
    expect(reply(r, 3).Size).toBe(6);
    expect(reply(r, 4)).toMatchObject({ Size: 0, OutputID: b64(sha256(new Uint8Array(0))) });
  });

  const good = new TextEncoder().encode("good body");
  const goodB64 = b64(good);
  const goodId = b64(sha256(good));
  test.each([
    ["malformed JSON", `{"ID":1,"Command":"get",\n\n`, /malformed request line/],
    ["an unknown command", line({ ID: 1, Command: "frobnicate" }), /unknown command "frobnicate"/],
    ["a get without ActionID", line({ ID: 1, Command: "get" }), /missing ActionID/],
    ["a get with a short ActionID", line({ ID: 1, Command: "get", ActionID: b64(new Uint8Array(20)) }), /ActionID is not base64 of 32 bytes/],
    ["a put without OutputID", line({ ID: 1, Command: "put", ActionID: actionId("p"), BodySize: 9 }) + `"${goodB64}"\n`, /missing OutputID/],
    ["a put whose body is longer than BodySize", line({ ID: 1, Command: "put", ActionID: actionId("p"), OutputID: goodId, BodySize: 5 }) + `"${goodB64}"\n`, /9 bytes, BodySize says 5/],
    ["a put whose body is shorter than BodySize", line({ ID: 1, Command: "put", ActionID: actionId("p"), OutputID: goodId, BodySize: 20 }) + `"${goodB64}"\n`, /9 bytes, BodySize says 20/],
    ["a put whose hash does not match", line({ ID: 1, Command: "put", ActionID: actionId("p"), OutputID: b64(sha256("other")), BodySize: 9 }) + `"${goodB64}"\n`, /does not match OutputID/],
    ["a put with truncated base64", line({ ID: 1, Command: "put", ActionID: actionId("p"), OutputID: goodId, BodySize: 9 }) + `"${goodB64.slice(0, -2)}"\n`, /truncated base64/],
    ["a put with bad base64", line({ ID: 1, Command: "put", ActionID: actionId("p"), OutputID: goodId, BodySize: 9 }) + `"!!!!${goodB64}"\n`, /bad base64/],
    ["a put whose body line is missing", line({ ID: 1, Command: "put", ActionID: actionId("p"), OutputID: goodId, BodySize: 9 }), /expected the body/],
  ])("answers Err for %s, stores nothing and keeps serving", async (_name, bad, message) => {
    const dir = tempDir("cache");
    const r = await runPlugin(["--cache-dir", dir], bad + get(2, "p") + putFrame(3, actionId("ok"), good) + get(4, "ok") + close(5));
    expect(r.exitCode).toBe(0);
    expect(reply(r, 1).Err).toMatch(message);
    expect(r.stderr).toMatch(message);
    expect(reply(r, 2)).toEqual({ ID: 2, Miss: true });
    expect(reply(r, 3).Err).toBeUndefined();
    expect(reply(r, 4).Size).toBe(good.length);
    const tmp = readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".tmp"));
    expect(tmp).toEqual([]);
  });

  test("a line without any ID is logged and skipped", async () => {
    const r = await runPlugin(["--cache-dir", tempDir("cache")], `not json at all\n\n` + get(1, "q") + close(2));
    expect(r.stderr).toMatch(/malformed request line/);
    expect(reply(r, 1).Miss).toBe(true);
    expect(r.exitCode).toBe(0);
  });

  test("end of input inside a body: Err for that put, nothing stored, exit 1", async () => {
    const dir = tempDir("cache");
    const body = new Uint8Array(100_000).fill(3);
    const frame = putFrame(1, actionId("eof"), body);
    const r = await runPlugin(["--cache-dir", dir], frame.slice(0, frame.length - 5000));
    expect(r.exitCode).toBe(1);
    expect(reply(r, 1).Err).toMatch(/input ended/);
    expect(r.stderr).toMatch(/ended in the middle of the body of put 1/);
    expect(readdirSync(dir, { recursive: true }).filter((f) => String(f).includes("/o/") && statSync(join(dir, String(f))).isFile())).toEqual([]);
  });

  test("end of input without close exits 0 after answering", async () => {
    const r = await runPlugin(["--cache-dir", tempDir("cache")], get(1, "z"));
    expect(r.exitCode).toBe(0);
    expect(reply(r, 1).Miss).toBe(true);
  });

  test("a 100 MB put round-trips", async () => {
    const dir = tempDir("cache");
    const body = new Uint8Array(100 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body[i] = i % 251;
    const input = new Blob([putFrame(1, actionId("big"), body), get(2, "big"), close(3)]);
    const r = await runPlugin(["--cache-dir", dir, "--metrics"], input);
    expect(reply(r, 1).Err).toBeUndefined();
    const hit = reply(r, 2);
    expect(hit.Size).toBe(body.length);
    expect(sha256(readFileSync(hit.DiskPath!)).equals(sha256(body))).toBe(true);
    expect(r.stderr).toMatch(/cache_bytes_in=104857600/);
  });

  test("replays a Go 1.23 (ObjectID) build stream: every get answered, every put accepted, close last", async () => {
    const capture = readFileSync(join(ROOT, "test", "fixtures", "go1.23-experiment-build-stream.jsonl"));
    const requests = capture.toString().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const r = await runPlugin(["--cache-dir", tempDir("cache")], capture);
    expect(r.exitCode).toBe(0);
    for (const req of requests) {
      const res = reply(r, req.ID);
      expect(res.Err).toBeUndefined();
      if (req.Command === "put") expect(res.DiskPath).toBeDefined();
    }
    const closeId = requests.find((q) => q.Command === "close").ID;
    expect(r.replies.at(-1)!.ID).toBe(closeId);
    expect(requests.filter((q) => q.Command === "put").length).toBeGreaterThan(3);
  });
});
