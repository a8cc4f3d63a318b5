/** The HTTP server's DNS rebinding guard: which Host headers are answered (hostGuard, startHttp). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { createLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { crossSite, hostGuard, startHttp } from "../../src/server/http.ts";

describe("hostGuard", () => {
  test.each([
    ["127.0.0.1", "127.0.0.1:5970", []],
    ["127.0.0.1", "127.0.0.1", []],
    ["127.0.0.1", "127.1.2.3:5970", []],
    ["127.0.0.1", "localhost:5970", []],
    ["127.0.0.1", "LOCALHOST.", []],
    ["127.0.0.1", "gocache.localhost:5970", []],
    ["127.0.0.1", "[::1]:5970", []],
    ["127.0.0.1", "0.0.0.0:5970", []],
    ["0.0.0.0", "192.168.1.5:5970", []],
    ["0.0.0.0", "[fe80::1]:5970", []],
    ["10.0.0.5", "10.0.0.5:5970", []],
    ["buildcache.internal", "BuildCache.Internal:5970", []],
    ["0.0.0.0", "gocache:5970", ["gocache"]],
    ["0.0.0.0", "cache.corp.example", [".corp.example"]],
    ["0.0.0.0", "corp.example:80", [".corp.example"]],
    ["0.0.0.0", "anything.example", ["*"]],
  ])("listening on %s: Host %s is answered (allowed %j)", (listen, host, allowed) => {
    expect(hostGuard(listen, allowed)(host)).toBeUndefined();
  });

  test.each([
    ["127.0.0.1", "evil.example", [], /not served here/],
    ["127.0.0.1", "evil.example:5970", [], /"evil.example"/],
    ["127.0.0.1", "localhost.evil.example", [], /not served here/],
    ["127.0.0.1", "127.0.0.1.nip.io", [], /not served here/],
    ["0.0.0.0", "gocache.evil.example", ["gocache"], /not served here/],
    ["0.0.0.0", "evilcorp.example", [".corp.example"], /not served here/],
    ["127.0.0.1", "a, b", [], /malformed Host/],
    ["127.0.0.1", "user@127.0.0.1", [], /malformed Host/],
    ["127.0.0.1", "[evil]:5970", [], /malformed Host/],
    ["127.0.0.1", "127.0.0.1:5970:1", [], /malformed Host/],
  ])("listening on %s: Host %s is refused (allowed %j)", (listen, host, allowed, reason) => {
    expect(hostGuard(listen, allowed)(host)).toMatch(reason);
  });

  test("no Host (HTTP/1.0) is answered: a browser always sends one", () => {
    expect([hostGuard("127.0.0.1")(null), hostGuard("127.0.0.1")("")]).toEqual([undefined, undefined]);
  });
});

describe("startHttp", () => {
  let server: Server<undefined>;
  const metrics = new Metrics();
  const lines: string[] = [];

  beforeAll(() => {
    const log = createLogger({ verbose: false, debug: false, write: (l) => void lines.push(l) });
    const mounts = [{ prefix: "/mod/", handle: (_req: Request, url: URL) => new Response(`mounted ${url.pathname}\n`) }];
    server = startHttp({ address: "127.0.0.1:0", metrics, describe: () => ({ "cache dir": "/tmp/x" }), mounts, allowedHosts: ["gocache.test"], log });
  });
  afterAll(() => server?.stop(true));

  /** One request over a raw socket, so that Host is exactly what the test says (or absent). */
  async function raw(lines: string[]): Promise<{ status: number; body: string }> {
    let data = "";
    const done = Promise.withResolvers<void>();
    const sock = await Bun.connect({ hostname: "127.0.0.1", port: server.port!, socket: { data: (_, d) => { data += d.toString(); }, close: () => done.resolve(), error: () => done.resolve() } });
    sock.write(`${lines.join("\r\n")}\r\n\r\n`);
    await done.promise;
    return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0), body: data.slice(data.indexOf("\r\n\r\n") + 4) };
  }
  const get = (path: string, host: string) => raw([`GET ${path} HTTP/1.1`, `Host: ${host}`, "Connection: close"]);

  test.each([
    ["/healthz", "127.0.0.1:PORT", 200, "ok"],
    ["/healthz", "localhost:PORT", 200, "ok"],
    ["/mod/example.com/m/@v/list", "127.0.0.1:PORT", 200, "mounted /mod/example.com/m/@v/list"],
    ["/metrics", "gocache.test:PORT", 200, "gocache_http_refused_hosts_total"],
    ["/", "evil.example:PORT", 403, "not served here"],
    ["/metrics", "evil.example", 403, "DNS rebinding"],
    ["/mod/example.com/m/@v/list", "evil.example:PORT", 403, "not served here"],
  ])("GET %s with Host %s -> %d", async (path, host, status, text) => {
    const r = await get(path, host.replace("PORT", String(server.port)));
    expect(r.status).toBe(status);
    expect(r.body).toContain(text);
  });

  test("HTTP/1.0 without Host is answered", async () => {
    const r = await raw(["GET /healthz HTTP/1.0"]);
    expect([r.status, r.body]).toEqual([200, "ok\n"]);
  });

  test("refusals are counted and warned about once", async () => {
    const before = metrics.snapshot().http_refused_hosts ?? 0;
    for (const host of ["evil.example", "other.example"]) expect((await get("/", host)).status).toBe(403);
    expect(metrics.snapshot().http_refused_hosts).toBe(before + 2);
    expect(lines.filter((l) => l.includes("[http] Host")).length).toBe(1);
  });
});

describe("crossSite", () => {
  const req = (headers: Record<string, string>) => new Request("http://127.0.0.1:5970/mod/x/@v/list", { headers: { host: "127.0.0.1:5970", ...headers } });
  test.each([
    ["the go command (no Origin, no Sec-Fetch-Site)", {}, false],
    ["a typed-in address", { "sec-fetch-site": "none" }, false],
    ["a link on the status page", { "sec-fetch-site": "same-origin", origin: "http://127.0.0.1:5970" }, false],
    ["a page of another site", { "sec-fetch-site": "cross-site", origin: "https://evil.example" }, true],
    ["another site, Origin only", { origin: "https://evil.example" }, true],
    ["an opaque origin", { origin: "null" }, true],
    ["a same-site page on another port", { "sec-fetch-site": "same-site" }, true],
  ])("%s", (_name, headers, refused) => {
    expect(crossSite(req(headers as Record<string, string>)) !== undefined).toBe(refused);
  });
});
