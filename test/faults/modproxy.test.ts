/**
 * The module proxy and the HTTP server as trust boundaries, through the
 * compiled binary: an upstream or a bucket answering what does not check out
 * must not get into the cache, and a web page rebinding a DNS name to
 * 127.0.0.1 must not get answers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { bucketName, listKeys, pluginS3Env, s3Flags, writeKey } from "../support/bucket.ts";
import { fakeModules, lookupAnswer, startFakeProxy, type FakeProxy } from "../support/fakeproxy.ts";
import { BINARY, cleanupTempDirs } from "../support/paths.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { startServe, type ServeProcess } from "../support/serve.ts";

const BUCKET = bucketName("modfaults");
let fake: FakeProxy;
let s3: S3Server;
const serves: ServeProcess[] = [];

beforeAll(async () => {
  fake = await startFakeProxy(fakeModules(), { "sum.example": { "lookup/example.com/hello@v1.0.0": lookupAnswer("sum.example", "example.com/hello", "v1.0.0") } });
  s3 = await startS3Server();
  await s3.createBucket(BUCKET);
}, 60_000);

afterAll(async () => {
  for (const s of serves) if (s.proc.exitCode === null) await s.stop();
  await fake?.stop();
  await s3?.destroy();
  cleanupTempDirs();
}, 60_000);

async function serveProxy(extra: string[] = []): Promise<ServeProcess> {
  const s = await startServe(["--modproxy", "--modproxy-upstream", fake.url, "--sumdb", "sum.example", ...s3Flags(s3, BUCKET), ...extra], pluginS3Env(s3));
  serves.push(s);
  return s;
}

/** Regular files below `<cache-dir>/modproxy/`, relative to it. */
function stored(s: ServeProcess): string[] {
  const root = join(s.cacheDir, "modproxy");
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(root.length + 1)).sort();
}

/** One request over a raw socket with exactly this Host header. */
async function rawGet(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  let data = "";
  const done = Promise.withResolvers<void>();
  const sock = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_, d) => { data += d.toString(); }, close: () => done.resolve(), error: () => done.resolve() } });
  sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  await done.promise;
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), body: data.slice(data.indexOf("\r\n\r\n") + 4) };
}

describe("upstream answers that fail validation are passed through, never cached", () => {
  let s: ServeProcess;
  beforeAll(async () => { s = await serveProxy(["--prefix", "invalid"]); }, 30_000);

  test.each([
    ["a version number as .mod", "example.com/hello/@v/v1.0.0.mod", "v1.0.0\n"],
    ["a .mod with another module line", "example.com/hello/@v/v1.1.0.mod", "module example.com/evil\n\ngo 1.20\n"],
    ["an .info of another version", "example.com/hello/@v/v1.0.0.info", '{"Version":"v9.9.9","Time":"2024-01-02T03:04:05Z"}'],
    ["an .info that is not JSON", "example.com/hello/@v/v1.1.0.info", "<html>bad gateway</html>"],
    ["a malformed lookup", "sumdb/sum.example/lookup/example.com/hello@v1.0.0", "12\nexample.com/hello v1.0.0 h1:nope\n"],
  ])("%s", async (_name, p, body) => {
    fake.overrides.set(p, body);
    try {
      for (let i = 1; i <= 2; i++) {
        const r = await fetch(`${s.httpUrl}/mod/${p}`);
        expect([r.status, r.headers.get("x-modproxy-source"), r.headers.get("cache-control"), await r.text()]).toEqual([200, "invalid", "no-store", body]);
        expect(fake.hits.get(p)).toBe(i); // the second request went upstream again
      }
      expect(stored(s)).toEqual([]);
    } finally {
      fake.overrides.delete(p);
      fake.reset();
    }
  });

  test("counted, logged once per kind, nothing in the bucket; once upstream behaves the real file is cached", async () => {
    const m = await s.metrics();
    expect(m("gocache_modproxy_invalid_upstream_total")).toBe(10);
    expect(m("gocache_modproxy_rejected_total")).toBe(0); // that one counts malformed requests
    expect(s.log().match(/further invalid mod answers/g)?.length).toBe(1);
    expect(s.log().match(/further invalid info answers/g)?.length).toBe(1);
    expect(s.log()).toContain("upstream sumdb/sum.example/lookup/example.com/hello@v1.0.0: lookup:");
    expect((await listKeys(s3, BUCKET)).filter((k) => k.startsWith("invalid/"))).toEqual([]);

    const r = await fetch(`${s.httpUrl}/mod/example.com/hello/@v/v1.0.0.mod`);
    expect([r.headers.get("x-modproxy-source"), await r.text()]).toEqual(["upstream", "module example.com/hello\n\ngo 1.20\n"]);
    expect(stored(s)).toEqual(["module/example.com/hello/@v/v1.0.0.mod"]);
  });
});

describe("a bucket copy that fails validation is a miss", () => {
  test.each([
    ["a garbage .mod", "example.com/hello/v2/@v/v2.0.0.mod", "v2.0.0\n", "module example.com/hello/v2\n\ngo 1.20\n"],
    ["an .info of another version", "example.com/hello/v2/@v/v2.1.0.info", '{"Version":"v0.0.1"}', '{"Version":"v2.1.0","Time":"2024-01-02T03:04:05Z"}'],
    ["an .info over 64 KiB", "example.com/many/@v/v1.0.0.info", `{"Version":"v1.0.0","Pad":"${"x".repeat(70_000)}"}`, '{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}'],
    ["a lookup of another module", "sumdb/sum.example/lookup/example.com/hello@v1.0.0", lookupAnswer("sum.example", "example.com/evil", "v1.0.0"), lookupAnswer("sum.example", "example.com/hello", "v1.0.0")],
  ])("%s: fetched from upstream instead, and the good copy cached locally", async (_name, p, planted, good) => {
    const prefix = bucketName("planted");
    const key = p.startsWith("sumdb/") ? p : `module/${p}`;
    await writeKey(s3, BUCKET, `${prefix}/${key}`, new TextEncoder().encode(planted));
    const s = await serveProxy(["--prefix", prefix, "--read-only"]);
    const r = await fetch(`${s.httpUrl}/mod/${p}`);
    expect([r.status, r.headers.get("x-modproxy-source"), await r.text()]).toEqual([200, "upstream", good]);
    expect(readFileSync(join(s.cacheDir, "modproxy", key), "utf8")).toBe(good);
    const m = await s.metrics();
    expect([m("gocache_modproxy_cache_hits_bucket_total"), m("gocache_modproxy_upstream_fetches_total")]).toEqual([0, 1]);
    expect(s.log()).toContain(`bucket object ${prefix}/${key} refused`);
    await s.stop();
  });
});

describe("HTTP Host check (DNS rebinding)", () => {
  let s: ServeProcess;
  let port: number;
  beforeAll(async () => {
    s = await serveProxy(["--http-allowed-hosts", "gocache.test"]);
    port = Number(new URL(s.httpUrl).port);
  }, 30_000);

  test.each([
    ["/", "evil.example"],
    ["/metrics", "evil.example:PORT"],
    ["/mod/example.com/hello/@v/list", "evil.example:PORT"],
    ["/healthz", "localhost.evil.example:PORT"],
  ])("GET %s with Host %s is refused", async (path, host) => {
    fake.reset();
    const r = await rawGet(port, path, host.replace("PORT", String(port)));
    expect(r.status).toBe(403);
    expect(r.body).toContain("DNS rebinding");
    expect(r.body).not.toContain("gocache_");
    expect(fake.hits.size).toBe(0);
  });

  test.each([
    ["/healthz", "127.0.0.1:PORT", "ok"],
    ["/healthz", "localhost:PORT", "ok"],
    ["/metrics", "[::1]:PORT", "gocache_http_refused_hosts_total"],
    ["/mod/example.com/hello/@v/list", "127.0.0.1:PORT", "v1.0.0\nv1.1.0\n"],
    ["/mod/example.com/hello/@v/list", "localhost:PORT", "v1.0.0\nv1.1.0\n"],
    ["/", "gocache.test:PORT", "go-cache-plugin"],
  ])("GET %s with Host %s is answered", async (path, host, text) => {
    const r = await rawGet(port, path, host.replace("PORT", String(port)));
    expect(r.status).toBe(200);
    expect(r.body).toContain(text);
  });

  test("refusals are counted and warned about once", async () => {
    expect((await s.metrics())("gocache_http_refused_hosts_total")).toBe(4);
    expect(s.log().match(/\[http\] Host/g)?.length).toBe(1);
  });

  test.each([
    [["--http-allowed-hosts", "evil.example/x"], /--http-allowed-hosts: .* is not a host name/],
    [["--modproxy-max-size", "lots"], /--modproxy-max-size: invalid size/],
  ])("serve %j is a usage error", async (flags, message) => {
    const p = Bun.spawn([BINARY, "serve", "--socket", join(s.cacheDir, "x.sock"), ...flags], { stdout: "pipe", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(2);
    expect(err).toMatch(message);
  });
});
