/**
 * The module proxy end to end: a real `serve --modproxy` process, the real go
 * command, a fake upstream proxy (test/support/fakeproxy.ts) and the S3 test
 * server. Only the last test touches the internet, and only when
 * proxy.golang.org answers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bucketName, listKeys, pluginS3Env, s3Flags } from "../support/bucket.ts";
import { fakeModules, lookupAnswer, startFakeProxy, type FakeProxy } from "../support/fakeproxy.ts";
import { expectOk, isolatedGoEnv, runGo, writeModule, type GoResult } from "../support/go.ts";
import { freePort } from "../support/net.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";
import { startS3Server, type S3Server } from "../support/s3server.ts";
import { startServe, type ServeProcess } from "../support/serve.ts";

const PSEUDO = "v0.0.0-20240102030405-abcdefabcdef";
const BUCKET = bucketName("modproxy");
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const SUMDB = { lookup: new TextEncoder().encode(lookupAnswer("sum.example", "example.com/hello", "v1.1.0")), tile: random(8192), partial: random(7 * 32) };

let fake: FakeProxy;
let second: FakeProxy;
let s3: S3Server;
const serves: ServeProcess[] = [];

beforeAll(async () => {
  fake = await startFakeProxy(fakeModules(), {
    "sum.example": { "lookup/example.com/hello@v1.1.0": SUMDB.lookup, "tile/8/0/000": SUMDB.tile, "tile/8/0/001.p/7": SUMDB.partial, supported: "upstream must not be asked\n" },
  });
  second = await startFakeProxy([{ path: "example.com/second", versions: [{ version: "v1.0.0" }] }]);
  s3 = await startS3Server();
  await s3.createBucket(BUCKET);
}, 60_000);

afterAll(async () => {
  for (const s of serves) if (s.proc.exitCode === null) await s.stop();
  await fake?.stop();
  await second?.stop();
  await s3?.destroy();
  cleanupTempDirs();
}, 60_000);

/** A serve process with the module proxy in front of the fake upstream and the shared bucket. */
async function serveProxy(extra: string[] = []): Promise<ServeProcess> {
  const s = await startServe(["--modproxy", "--modproxy-upstream", fake.url, "--sumdb", "sum.example", "--debug", "2", ...s3Flags(s3, BUCKET), ...extra], pluginS3Env(s3));
  serves.push(s);
  return s;
}


const goEnv = (s: ServeProcess, goproxy = `${s.httpUrl}/mod`) => ({ ...isolatedGoEnv(), GOPROXY: goproxy, GOSUMDB: "off" });
const immutable = (p: string) => /\.(info|mod|zip)$/.test(p) && !p.endsWith("/main.info");

const consumer = writeModule({
  "go.mod": `module example.com/consumer\n\ngo 1.22\n\nrequire (\n\texample.com/hello v1.1.0\n\texample.com/hello/v2 v2.0.0\n\texample.com/Upper/Mod v1.0.1-RC1\n\texample.com/pseudo ${PSEUDO}\n)\n`,
  "main.go": `package main\n\nimport (\n\t"fmt"\n\n\tupper "example.com/Upper/Mod"\n\t"example.com/hello"\n\thello2 "example.com/hello/v2"\n\t"example.com/pseudo"\n)\n\nfunc main() {\n\tfmt.Println(hello.Version())\n\tfmt.Println(hello2.Version())\n\tfmt.Println(upper.Version())\n\tfmt.Println(pseudo.Version())\n}\n`,
}, "example.com/consumer");

/** `go mod download` then `go build` of the consumer; returns the built program's output. */
async function buildConsumer(env: Record<string, string>): Promise<string> {
  expectOk(await runGo(["mod", "download"], { cwd: consumer, env }));
  const out = join(tempDir("bin"), "consumer");
  expectOk(await runGo(["build", "-o", out, "."], { cwd: consumer, env }));
  const run = Bun.spawnSync([out]);
  return run.stdout.toString();
}

const EXPECTED_OUTPUT = `example.com/hello v1.1.0\nexample.com/hello/v2 v2.0.0\nexample.com/Upper/Mod v1.0.1-RC1\nexample.com/pseudo ${PSEUDO}\n`;

/** One HTTP/1.1 request over a raw socket, path sent exactly as given (fetch would normalize it). */
async function rawGet(port: number, path: string): Promise<{ status: number; text: string }> {
  let data = "";
  const done = Promise.withResolvers<void>();
  const sock = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_, d) => { data += d.toString(); }, close: () => done.resolve(), error: () => done.resolve() } });
  sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  await done.promise;
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), text: data.slice(data.indexOf("\r\n\r\n") + 4) };
}

describe("module proxy", () => {
  let warm: ServeProcess;

  test("go mod download and go build through the proxy; a fresh cache dir on the same bucket asks upstream for nothing immutable", async () => {
    const first = await serveProxy();
    expect(await buildConsumer(goEnv(first))).toBe(EXPECTED_OUTPUT);
    const fetched = [...fake.hits.keys()].filter(immutable);
    expect(fetched).toEqual(expect.arrayContaining(["example.com/!upper/!mod/@v/v1.0.1-!r!c1.zip", `example.com/pseudo/@v/${PSEUDO}.mod`, "example.com/hello/v2/@v/v2.0.0.zip"]));
    expect(existsSync(join(first.cacheDir, "modproxy/module/example.com/!upper/!mod/@v/v1.0.1-!r!c1.zip"))).toBe(true);
    // Uploads run in the background: wait for every immutable file to reach the bucket.
    const want = fetched.map((p) => `module/${p}`);
    let keys = await listKeys(s3, BUCKET);
    for (let i = 0; i < 100 && !want.every((k) => keys.includes(k)); i++) {
      await Bun.sleep(100);
      keys = await listKeys(s3, BUCKET);
    }
    expect(keys).toEqual(expect.arrayContaining(want));
    expect(await first.stop()).toBe(0);

    fake.reset();
    warm = await serveProxy(); // a fresh cache directory, the same bucket
    expect(await buildConsumer(goEnv(warm))).toBe(EXPECTED_OUTPUT);
    expect([...fake.hits.keys()].filter(immutable)).toEqual([]);
    const m = await warm.metrics();
    expect(m("gocache_modproxy_cache_hits_bucket_total")).toBe(want.length);
    expect(m("gocache_modproxy_upstream_fetches_total")).toBe(0);
  });

  test("upstream stopped: cached versions still build, list and @latest come from the last good copy, an unknown module is a 404", async () => {
    const list = await (await fetch(`${warm.httpUrl}/mod/example.com/hello/@v/list`)).text();
    const latest = await (await fetch(`${warm.httpUrl}/mod/example.com/hello/@latest`)).text();
    expect(list).toBe("v1.0.0\nv1.1.0\nv1.2.0-pre.1\n");
    await fake.stop();
    try {
      expect(await buildConsumer(goEnv(warm))).toBe(EXPECTED_OUTPUT); // fresh GOMODCACHE
      for (const [p, body] of [["example.com/hello/@v/list", list], ["example.com/hello/@latest", latest]] as const) {
        const r = await fetch(`${warm.httpUrl}/mod/${p}`, { headers: { "Cache-Control": "no-cache" } }); // skip the short cache: upstream is asked, and fails
        expect([r.status, r.headers.get("x-modproxy-source"), await r.text()]).toEqual([200, "stale", body]);
      }
      const versions = await runGo(["list", "-m", "-versions", "example.com/hello"], { cwd: consumer, env: goEnv(warm) });
      expectOk(versions);
      expect(versions.stdout.trim()).toBe("example.com/hello v1.0.0 v1.1.0 v1.2.0-pre.1");
      const unknown = await fetch(`${warm.httpUrl}/mod/example.com/unknown/@v/list`);
      expect([unknown.status, unknown.headers.get("cache-control")]).toEqual([404, "no-store"]);
      expect(await unknown.text()).toMatch(/^upstream unavailable: .*(refused|ECONNREFUSED|Unable to connect).*after 3 attempts/i);
      const m = await warm.metrics();
      expect(m("gocache_modproxy_upstream_errors_total")).toBeGreaterThanOrEqual(3);
    } finally {
      await fake.start();
    }
  });

  test("50 parallel requests for one uncached zip make one upstream fetch", async () => {
    const p = "example.com/many/@v/v1.0.1.zip";
    fake.delays.set(p, 300);
    const bodies = await Promise.all(Array.from({ length: 50 }, async () => {
      const r = await fetch(`${warm.httpUrl}/mod/${p}`);
      expect(r.status).toBe(200);
      return new Uint8Array(await r.arrayBuffer());
    }));
    fake.delays.delete(p);
    expect(fake.hits.get(p)).toBe(1);
    for (const b of bodies) expect<Uint8Array>(b).toEqual(fake.file(p)!);
  });

  test.each([["short", "v1.0.0", /truncated|ECONNRESET|closed/], ["cut", "v1.0.1", /end-of-central-directory/]] as const)("a %s upstream zip is neither cached nor served", async (mode, version, reason) => {
    const p = `example.com/broken/@v/${version}.zip`;
    fake.broken.set(p, mode);
    try {
      const before = (await warm.metrics())("gocache_modproxy_corrupt_downloads_total");
      const r = await fetch(`${warm.httpUrl}/mod/${p}`);
      expect([r.status, r.headers.get("cache-control")]).toEqual([404, "no-store"]);
      expect(await r.text()).toMatch(reason);
      expect((await warm.metrics())("gocache_modproxy_corrupt_downloads_total")).toBe(before + 1);
      const dl = await runGo(["mod", "download", `example.com/broken@${version}`], { cwd: consumer, env: goEnv(warm) });
      expect(dl.exitCode).not.toBe(0);
      expect(existsSync(join(warm.cacheDir, "modproxy/module", p))).toBe(false);
      expect(await listKeys(s3, BUCKET)).not.toContain(`module/${p}`);
    } finally {
      fake.broken.delete(p);
    }
    expect((await fetch(`${warm.httpUrl}/mod/${p}`)).status).toBe(200); // the real file, once upstream behaves
  });

  test.each([
    ["/mod/example.com/Hello/@v/list", 400], ["/mod/example.com/!hello!/@v/list", 400], ["/mod/example.com/!Hello/@v/list", 400],
    ["/mod/example.com/hello/@v/V1.0.0.info", 400], ["/mod/example.com/hello/@v/v1.0.0-!.info", 400], ["/mod/example.com//hello/@v/list", 400],
    ["/mod/example.com/hello/@v/%2e%2e%2f%2e%2e%2fx.info", 400], ["/mod/%2fetc/@v/list", 400], ["/mod/example.com/hello/@v/%zz.info", 400],
    ["/mod/example.com/../../etc/@v/list", 404], // URL parsing resolves this to /etc/@v/list, outside /mod/
    ["/mod/example.com/hello/@v/master.zip", 404], ["/mod/example.com/hello/@v/v1.0.0.exe", 404], ["/mod/example.com/hello", 404],
    ["/mod/sumdb/sum.example/lookup/example.com/Hello@v1.0.0", 400], ["/mod/sumdb/sum.example/tile/8/0/x", 404], ["/mod/sumdb/sum.golang.org/supported", 404],
  ])("malformed path %s -> %d, upstream not asked", async (path, status) => {
    fake.reset();
    const r = await rawGet(Number(new URL(warm.httpUrl).port), path);
    expect(r.status).toBe(status);
    expect(r.text.length).toBeGreaterThan(1);
    expect(fake.hits.size).toBe(0);
  });

  test("bucket: --prefix places keys under it, --read-only writes nothing, an unreachable bucket is only a miss", async () => {
    const prefixed = await serveProxy(["--prefix", "team"]);
    expect((await fetch(`${prefixed.httpUrl}/mod/example.com/hello/@v/v1.0.0.mod`)).status).toBe(200);
    let keys: string[] = [];
    for (let i = 0; i < 50 && !keys.includes("team/module/example.com/hello/@v/v1.0.0.mod"); i++) {
      await Bun.sleep(100);
      keys = await listKeys(s3, BUCKET);
    }
    expect(keys).toContain("team/module/example.com/hello/@v/v1.0.0.mod");

    const readOnly = await serveProxy(["--prefix", "ro", "--read-only"]);
    expect((await fetch(`${readOnly.httpUrl}/mod/example.com/hello/@v/v1.0.0.mod`)).status).toBe(200);
    await Bun.sleep(500);
    expect((await listKeys(s3, BUCKET)).filter((k) => k.startsWith("ro/"))).toEqual([]);

    const deadBucket = await startServe(["--modproxy", "--modproxy-upstream", fake.url, "--bucket", "nobucket", "--s3-endpoint-url", `http://127.0.0.1:${await freePort()}`, "--s3-path-style", "--region", "us-east-1"], pluginS3Env(s3));
    serves.push(deadBucket);
    for (const p of ["example.com/hello/@v/v1.0.0.mod", "example.com/hello/@v/v1.0.0.zip"]) {
      const r = await fetch(`${deadBucket.httpUrl}/mod/${p}`);
      expect([r.status, r.headers.get("x-modproxy-source")]).toEqual([200, "upstream"]);
    }
    await Bun.sleep(300);
    expect(deadBucket.log().match(/\[modproxy\] bucket get/g)?.length).toBe(1); // warned once, then bucket reads pause
  });

  test("methods other than GET and HEAD are 405", async () => {
    const r = await fetch(`${warm.httpUrl}/mod/example.com/hello/@v/list`, { method: "PUT", body: "x" });
    expect([r.status, r.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
    expect((await fetch(`${warm.httpUrl}/mod/example.com/hello/@v/v1.1.0.mod`, { method: "HEAD" })).status).toBe(200);
  });

  test("GOPROXY=ours,second: our 404 lets the go command fall back to the second proxy", async () => {
    const dir = writeModule({}, "example.com/fallback");
    const env = goEnv(warm, `${warm.httpUrl}/mod,${second.url}`);
    expectOk(await runGo(["mod", "download", "example.com/second@v1.0.0"], { cwd: dir, env }));
    expect(fake.hits.get("example.com/second/@v/v1.0.0.info")).toBe(1);
    expect(second.hits.get("example.com/second/@v/v1.0.0.zip")).toBe(1);
  });

  describe("checksum database proxy", () => {
    const sumdb = (p: string) => fetch(`${warm.httpUrl}/mod/sumdb/sum.example/${p}`);
    const bytes = async (r: Response) => new Uint8Array(await r.arrayBuffer());

    test("lookup and full tiles pass through byte for byte and are cached", async () => {
      for (const [p, want] of [["lookup/example.com/hello@v1.1.0", SUMDB.lookup], ["tile/8/0/000", SUMDB.tile]] as const) {
        for (let i = 0; i < 2; i++) {
          const r = await sumdb(p);
          expect(r.status).toBe(200);
          expect(await bytes(r)).toEqual(want);
        }
        expect(fake.hits.get(`sumdb/sum.example/${p}`)).toBe(1);
      }
    });

    test("supported is answered locally", async () => {
      fake.reset();
      const r = await sumdb("supported");
      expect(r.status).toBe(200);
      expect(fake.hits.size).toBe(0);
    });

    test("partial tiles pass through uncached, their 404s too", async () => {
      for (let i = 0; i < 2; i++) expect(await bytes(await sumdb("tile/8/0/001.p/7"))).toEqual(SUMDB.partial);
      expect(fake.hits.get("sumdb/sum.example/tile/8/0/001.p/7")).toBe(2);
      const missing = await sumdb("tile/8/0/002.p/3");
      expect(missing.status).toBe(404);
      expect(await missing.text()).toContain("not found");
    });

    test("an unknown checksum database is a 404", async () => {
      const r = await fetch(`${warm.httpUrl}/mod/sumdb/sum.other.example/supported`);
      expect(r.status).toBe(404);
      expect(await r.text()).toContain("unknown checksum database");
    });
  });

  test("a public module from proxy.golang.org, checksums verified through our sumdb proxy (or a clear 404 when offline)", async () => {
    const reachable = await fetch("https://proxy.golang.org/github.com/google/uuid/@v/v1.6.0.info", { signal: AbortSignal.timeout(3000) }).then((r) => r.ok, () => false);
    const s = await startServe(["--modproxy", "--modproxy-timeout", "5s", "--debug", "2"]);
    serves.push(s);
    const base = `${s.httpUrl}/mod/github.com/google/uuid/@v/v1.6.0`;
    if (!reachable) {
      const r = await fetch(`${base}.info`);
      expect([r.status, r.headers.get("cache-control")]).toEqual([404, "no-store"]);
      expect(await r.text()).toMatch(/^upstream unavailable: https:\/\/proxy\.golang\.org\/github\.com\/google\/uuid\/@v\/v1\.6\.0\.info: .*after 3 attempts/);
      return;
    }
    expect(await (await fetch(`${base}.info`)).json()).toMatchObject({ Version: "v1.6.0" });
    expect(await (await fetch(`${base}.mod`)).text()).toBe("module github.com/google/uuid\n");
    const zip = await fetch(`${base}.zip`);
    expect(zip.status).toBe(200);
    const direct = await fetch("https://proxy.golang.org/github.com/google/uuid/@v/v1.6.0.zip");
    expect(new Uint8Array(await zip.arrayBuffer())).toEqual(new Uint8Array(await direct.arrayBuffer()));

    const env = { ...isolatedGoEnv(), GOFLAGS: "", GOPROXY: `${s.httpUrl}/mod`, GOSUMDB: `sum.golang.org ${s.httpUrl}/mod/sumdb/sum.golang.org` };
    const dl = await runGo(["mod", "download", "-json", "github.com/google/uuid@v1.6.0"], { cwd: tempDir("pub"), env });
    expectOk(dl);
    expect(JSON.parse(dl.stdout)).toMatchObject({ Path: "github.com/google/uuid", Version: "v1.6.0", Sum: "h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=" });
    expect(dl.stdout).not.toContain('"Error"');
    expect(s.log()).toMatch(/modproxy GET \/mod\/sumdb\/sum\.golang\.org\/lookup\/github\.com\/google\/uuid@v1\.6\.0 200/);
  });
});
