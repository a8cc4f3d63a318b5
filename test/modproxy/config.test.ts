/** The serve flags of the module proxy, parsed the way `serve` parses them. */
import { describe, expect, test } from "bun:test";
import { CACHE_FLAGS, SERVE_FLAGS, UsageError, buildServeConfig, parseFlags } from "../../src/config.ts";

const build = (argv: string[], env: Record<string, string> = {}) =>
  buildServeConfig(parseFlags(argv, { ...CACHE_FLAGS, ...SERVE_FLAGS }), { HOME: "/tmp/home", ...env });

describe("module proxy flags", () => {
  test("defaults", () => {
    const c = build(["--plugin", "5971", "--http", "5970", "--modproxy"]);
    expect([c.modproxy, c.modproxyUpstream, c.sumdb, c.modproxyTimeoutMs]).toEqual([true, "https://proxy.golang.org", ["sum.golang.org"], 30_000]);
  });

  test("flags with dashes are accepted", () => {
    const c = build(["--plugin", "5971", "--http", "5970", "--modproxy", "--modproxy-upstream", "http://127.0.0.1:9/x/", "--sumdb", "sum.golang.org, sum.example", "--modproxy-timeout", "5s"]);
    expect([c.modproxyUpstream, c.sumdb, c.modproxyTimeoutMs]).toEqual(["http://127.0.0.1:9/x", ["sum.golang.org", "sum.example"], 5_000]);
  });

  test("environment", () => {
    const c = build(["--plugin", "5971"], { GOCACHE_HTTP: "5970", GOCACHE_MODPROXY: "true", GOCACHE_MODPROXY_UPSTREAM: "https://goproxy.example", GOCACHE_MODPROXY_TIMEOUT: "1m" });
    expect([c.modproxy, c.modproxyUpstream, c.modproxyTimeoutMs]).toEqual([true, "https://goproxy.example", 60_000]);
  });

  test("--modproxy-max-size and --http-allowed-hosts: defaults, flags, environment", () => {
    const d = build(["--plugin", "5971", "--http", "5970"]);
    expect([d.modproxyMaxSizeBytes, d.httpAllowedHosts]).toEqual([10 * 1024 ** 3, []]);
    const f = build(["--plugin", "5971", "--http", "0.0.0.0:5970", "--modproxy-max-size", "512MiB", "--http-allowed-hosts", "GoCache.Internal, .corp.example,*"]);
    expect([f.modproxyMaxSizeBytes, f.httpAllowedHosts]).toEqual([512 * 1024 ** 2, ["gocache.internal", ".corp.example", "*"]]);
    const e = build(["--plugin", "5971"], { GOCACHE_MODPROXY_MAX_SIZE: "0", GOCACHE_HTTP_ALLOWED_HOSTS: "gocache" });
    expect([e.modproxyMaxSizeBytes, e.httpAllowedHosts]).toEqual([0, ["gocache"]]);
  });

  test.each([
    [["--modproxy"], /needs --http/],
    [["--modproxy-max-size", "lots"], /--modproxy-max-size: invalid size/],
    [["--http-allowed-hosts", "evil.example/path"], /--http-allowed-hosts: "evil.example\/path" is not a host name/],
    [["--http-allowed-hosts", "a..b"], /is not a host name/],
    [["--http", "5970", "--modproxy-upstream", "ftp://x"], /expected an http\(s\) URL/],
    [["--http", "5970", "--modproxy-timeout", "soon"], /--modproxy-timeout/],
    [["--http", "5970", "--modproxy-timeout", "0"], /more than 0/],
  ])("%j is a usage error", (argv, message) => {
    expect(() => build(["--plugin", "5971", ...argv])).toThrow(UsageError);
    expect(() => build(["--plugin", "5971", ...argv])).toThrow(message);
  });
});
