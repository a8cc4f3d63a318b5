/** The module proxy mount in-process against the fake upstream: caching rules, failures, headers, counters. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/log.ts";
import { createModProxy, type ModProxy } from "../../src/modproxy/mount.ts";
import { fakeModules, lookupAnswer, startFakeProxy, treeNote, type FakeProxy } from "../support/fakeproxy.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

let fake: FakeProxy;
let proxy: ModProxy;
let server: Server<undefined>;
let base: string;
const lines: string[] = [];

beforeAll(async () => {
  fake = await startFakeProxy(fakeModules(), { "sum.example": { latest: treeNote("sum.example"), "lookup/example.com/hello@v1.0.0": lookupAnswer("sum.example", "example.com/hello", "v1.0.0") } });
  const config = { cacheDir: tempDir("mount"), bucket: undefined, prefix: "", readOnly: false, modproxyUpstream: fake.url, sumdb: ["sum.example"] };
  proxy = createModProxy({ config, log: createLogger({ verbose: false, debug: true, write: (l) => void lines.push(l) }), backoffMs: 5 });
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => proxy.handle(req, new URL(req.url)) });
  base = `http://127.0.0.1:${server.port}/mod`;
});
afterAll(async () => {
  proxy?.close();
  await server?.stop(true);
  await fake?.stop();
  cleanupTempDirs();
});

const get = (p: string, init?: RequestInit) => fetch(`${base}/${p}`, init);

describe("module proxy mount", () => {
  test("immutable files: fetched once, then local, with immutable caching headers", async () => {
    const p = "example.com/hello/@v/v1.0.0.mod";
    const a = await get(p);
    expect([a.status, a.headers.get("x-modproxy-source"), await a.text()]).toEqual([200, "upstream", "module example.com/hello\n\ngo 1.20\n"]);
    const b = await get(p);
    expect([b.headers.get("x-modproxy-source"), b.headers.get("cache-control")]).toEqual(["local", "public, max-age=31536000, immutable"]);
    expect(fake.hits.get(p)).toBe(1);
    expect(existsSync(join(proxy.storage.root, "module", p))).toBe(true);
  });

  test("HEAD answers headers only; other methods are 405", async () => {
    const h = await get("example.com/hello/@v/v1.0.0.mod", { method: "HEAD" });
    expect([h.status, await h.text()]).toEqual([200, ""]);
    const p = await get("example.com/hello/@v/v1.0.0.mod", { method: "POST", body: "x" });
    expect([p.status, p.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
  });

  test("list: short cache, then revalidated; the last good copy when upstream fails", async () => {
    const p = "example.com/hello/@v/list";
    expect(await (await get(p)).text()).toBe("v1.0.0\nv1.1.0\nv1.2.0-pre.1\n");
    await get(p);
    expect(fake.hits.get(p)).toBe(1); // within the time-to-live
    await get(p, { headers: { "Cache-Control": "no-cache" } });
    expect(fake.hits.get(p)).toBe(2);
    fake.broken.set(p, "short");
    const stale = await get(p, { headers: { "Cache-Control": "no-cache" } });
    expect([stale.status, stale.headers.get("x-modproxy-source"), await stale.text()]).toEqual([200, "stale", "v1.0.0\nv1.1.0\nv1.2.0-pre.1\n"]);
    fake.broken.delete(p);
  });

  test("query .info is mutable and names the pseudo-version", async () => {
    const r = await get("example.com/pseudo/@v/main.info");
    expect(await r.json()).toEqual({ Version: "v0.0.0-20240102030405-abcdefabcdef", Time: "2024-01-02T03:04:05Z" });
    expect(r.headers.get("cache-control")).toBe("public, max-age=60");
  });

  test("upstream 404 passes through with its text; a failing upstream is a 404 no-store with a reason", async () => {
    const nf = await get("example.com/nothere/@v/list");
    expect([nf.status, await nf.text()]).toEqual([404, "not found: example.com/nothere/@v/list\n"]);
    fake.broken.set("example.com/many/@v/v1.0.1.zip", "short");
    const bad = await get("example.com/many/@v/v1.0.1.zip");
    expect([bad.status, bad.headers.get("cache-control")]).toEqual([404, "no-store"]);
    expect(await bad.text()).toMatch(/^upstream unavailable: .*after 3 attempts/);
    fake.broken.delete("example.com/many/@v/v1.0.1.zip");
    expect((await get("example.com/many/@v/v1.0.1.zip")).status).toBe(200);
  });

  test("a cut zip is refused and nothing is left behind", async () => {
    fake.broken.set("example.com/broken/@v/v1.0.0.zip", "cut");
    const r = await get("example.com/broken/@v/v1.0.0.zip");
    expect(r.status).toBe(404);
    expect(await r.text()).toMatch(/end-of-central-directory/);
    expect(existsSync(join(proxy.storage.root, "module/example.com/broken/@v/v1.0.0.zip"))).toBe(false);
    expect(readdirSync(join(proxy.storage.root, "tmp"))).toEqual([]);
    expect(proxy.counters.corruptDownloads).toBeGreaterThanOrEqual(1);
  });

  test("checksum database: supported locally, latest short-cached, unknown names 404", async () => {
    const before = fake.count((p) => p.startsWith("sumdb/"));
    expect((await get("sumdb/sum.example/supported")).status).toBe(200);
    const latest = await get("sumdb/sum.example/latest");
    expect([latest.headers.get("x-modproxy-source"), await latest.text()]).toEqual(["upstream", treeNote("sum.example")]);
    expect(fake.count((p) => p.startsWith("sumdb/")) - before).toBe(1);
    expect((await get("sumdb/sum.golang.org/supported")).status).toBe(404);
  });

  test.each([
    ["a version number as .mod", "example.com/hello/@v/v1.1.0.mod", "v1.1.0\n", "mod"],
    ["a .mod of another module", "example.com/hello/v2/@v/v2.0.0.mod", "module example.com/hello\n", "mod"],
    ["an .info of another version", "example.com/hello/@v/v1.1.0.info", '{"Version":"v1.0.0"}', "info"],
    ["a query .info that is not JSON", "example.com/pseudo/@v/main.info", "<html>", "query info"],
    ["an @latest without Version", "example.com/hello/@latest", '{"Time":"2024-01-02T03:04:05Z"}', "latest"],
    ["a list of words", "example.com/hello/@v/list", "hello\nworld\n", "list"],
    ["a lookup of random bytes", "sumdb/sum.example/lookup/example.com/hello@v1.0.0", "\x01\x02garbage", "sumdb lookup"],
    ["an unsigned latest", "sumdb/sum.example/latest", "go.sum database tree\n1\nhash\n", "sumdb latest"],
  ])("%s is passed through uncached, counted and logged once per kind", async (_name, p, body, what) => {
    fake.overrides.set(p, body);
    try {
      const before = proxy.counters.invalidUpstream;
      for (let i = 1; i <= 2; i++) {
        const r = await get(p, { headers: { "Cache-Control": "no-cache" } });
        expect([r.status, r.headers.get("x-modproxy-source"), r.headers.get("cache-control"), await r.text()]).toEqual([200, "invalid", "no-store", body]);
        expect(proxy.counters.invalidUpstream).toBe(before + i);
      }
      expect(fake.hits.get(p)).toBeGreaterThanOrEqual(2);
      // Nothing of it is stored: immutable files stay absent, mutable ones keep the good copy earlier tests fetched (if any).
      const stored = join(proxy.storage.root, p.startsWith("sumdb/") ? p : `module/${p}`);
      expect(existsSync(stored) && readFileSync(stored, "utf8") === body).toBe(false);
      if (["mod", "info", "sumdb lookup"].includes(what)) expect(existsSync(stored)).toBe(false);
      expect(lines.filter((l) => l.includes(`further invalid ${what} answers`)).length).toBe(1);
    } finally {
      fake.overrides.delete(p);
    }
  });

  test("a valid lookup is cached", async () => {
    const p = "sumdb/sum.example/lookup/example.com/hello@v1.0.0";
    for (const source of ["upstream", "local"]) expect((await get(p)).headers.get("x-modproxy-source")).toBe(source);
    expect(existsSync(join(proxy.storage.root, p))).toBe(true);
  });

  test("counters and one debug line per request", () => {
    const c = proxy.counters;
    expect(c.requests).toBeGreaterThan(10);
    expect(c.cacheHitsLocal).toBeGreaterThan(0);
    expect(c.upstreamErrors).toBeGreaterThan(0);
    expect(c.bytesServed).toBeGreaterThan(0);
    expect(lines.filter((l) => l.includes("modproxy GET")).length + lines.filter((l) => l.includes("modproxy HEAD") || l.includes("modproxy POST")).length).toBe(c.requests);
  });
});
