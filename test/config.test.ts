import { describe, expect, test } from "bun:test";
import { CACHE_FLAGS, UsageError, buildConfig, parseFlags, resolveCacheDir } from "../src/config.ts";
import { parseBytes, parseDuration } from "../src/units.ts";
import { binary } from "./support/paths.ts";

const config = (argv: string[], env: Record<string, string> = {}) => {
  return buildConfig(parseFlags(argv, CACHE_FLAGS), { HOME: "/home/u", ...env });
};

describe("config", () => {
  test("defaults: local-only, per-user cache directory", () => {
    const c = config([]);
    expect(c.cacheDir).toBe("/home/u/.cache/go-cache-plugin");
    expect(c.bucket).toBeUndefined();
    expect(c.metrics).toBe(false);
    expect(config([], { XDG_CACHE_HOME: "/x" }).cacheDir).toBe("/x/go-cache-plugin");
  });

  // Go's os.UserCacheDir, plus /go-cache-plugin.
  test.each([
    ["linux", { HOME: "/home/u" }, "/home/u/.cache/go-cache-plugin"],
    ["linux", { HOME: "/home/u", XDG_CACHE_HOME: "/xdg" }, "/xdg/go-cache-plugin"],
    ["linux", { HOME: "/home/u", XDG_CACHE_HOME: "relative/xdg" }, "/home/u/.cache/go-cache-plugin"],
    ["linux", { XDG_CACHE_HOME: "/xdg" }, "/xdg/go-cache-plugin"],
    ["freebsd", { HOME: "/home/u", XDG_CACHE_HOME: "/xdg" }, "/xdg/go-cache-plugin"],
    ["freebsd", { HOME: "/home/u" }, "/home/u/.cache/go-cache-plugin"],
    ["darwin", { HOME: "/Users/u" }, "/Users/u/Library/Caches/go-cache-plugin"],
    ["darwin", { HOME: "/Users/u", XDG_CACHE_HOME: "/xdg" }, "/Users/u/Library/Caches/go-cache-plugin"],
    ["win32", { LocalAppData: "C:\\Users\\u\\AppData\\Local", HOME: "/home/u" }, "C:\\Users\\u\\AppData\\Local\\go-cache-plugin"],
    ["win32", { LOCALAPPDATA: "D:\\Local", XDG_CACHE_HOME: "/xdg" }, "D:\\Local\\go-cache-plugin"],
  ] as const)("default cache directory on %s with %p", (platform, env, want) => {
    expect(resolveCacheDir(undefined, env, platform)).toBe(want);
  });

  test.each([
    ["linux", {}, /neither \$XDG_CACHE_HOME nor \$HOME is set/],
    ["linux", { XDG_CACHE_HOME: "relative" }, /neither \$XDG_CACHE_HOME nor \$HOME is set/],
    ["darwin", { XDG_CACHE_HOME: "/xdg" }, /\$HOME is not set/],
    ["win32", { HOME: "/home/u" }, /%LocalAppData% is not set/],
  ] as const)("no default cache directory on %s with %p: a usage error naming --cache-dir", (platform, env, message) => {
    expect(() => resolveCacheDir(undefined, env, platform)).toThrow(UsageError);
    expect(() => resolveCacheDir(undefined, env, platform)).toThrow(message);
    expect(() => resolveCacheDir(undefined, env, platform)).toThrow(/--cache-dir or GOCACHE_DIR/);
  });

  test.each(["linux", "darwin", "win32"] as const)("--cache-dir wins on %s, even with no variables", (platform) => {
    expect(resolveCacheDir("/flag/dir", {}, platform)).toBe("/flag/dir");
  });

  test.each([
    ["cacheDir", ["--cache-dir", "/flag"], { GOCACHE_DIR: "/env" }, "/flag", "/env"],
    ["prefix", ["--prefix", "a/b/"], { GOCACHE_KEY_PREFIX: "env" }, "a/b", "env"],
    ["minUploadSize", ["--min-upload-size", "10"], { GOCACHE_MIN_SIZE: "20" }, 10, 20],
    ["concurrency", ["-c", "3"], { GOCACHE_CONCURRENCY: "4" }, 3, 4],
    ["uploadConcurrency", ["-u", "5"], { GOCACHE_S3_CONCURRENCY: "6" }, 5, 6],
    ["metrics", ["--metrics"], { GOCACHE_METRICS: "true" }, true, true],
    ["metrics", ["--no-metrics"], { GOCACHE_METRICS: "1" }, false, true],
    ["expiryMs", ["--expiry", "1h30m"], { GOCACHE_EXPIRY: "72h" }, 5_400_000, 259_200_000],
    ["maxSizeBytes", ["--max-size", "1GiB"], { GOCACHE_MAX_SIZE: "10MB" }, 1024 ** 3, 10_000_000],
    ["verbose", ["-v"], { GOCACHE_VERBOSE: "yes" }, true, true],
    ["debug", ["--debug", "1"], { GOCACHE_DEBUG: "3" }, 1, 3],
  ])("%s: a flag wins over the environment, which is used alone", (key, argv, env, fromFlag, fromEnv) => {
    expect(config(argv as string[], env)[key as keyof ReturnType<typeof config>]).toEqual(fromFlag);
    expect(config([], env)[key as keyof ReturnType<typeof config>]).toEqual(fromEnv);
  });

  test.each([
    ["a bare name is S3", ["--bucket", "b1"], {}, { backend: "s3", bucket: "b1", pathStyle: false }],
    ["s3:// with every S3 flag", ["--bucket", "s3://b1", "--region", "eu-west-1", "--s3-endpoint-url", "http://127.0.0.1:9000", "--s3-path-style"], {}, { backend: "s3", bucket: "b1", region: "eu-west-1", endpoint: "http://127.0.0.1:9000", pathStyle: true }],
    ["the S3 variables", [], { GOCACHE_S3_BUCKET: "env-bucket", GOCACHE_S3_REGION: "us-east-2", GOCACHE_S3_ENDPOINT_URL: "https://r2.example", GOCACHE_S3_PATH_STYLE: "true" }, { backend: "s3", bucket: "env-bucket", region: "us-east-2", endpoint: "https://r2.example", pathStyle: true }],
    ["a flag over the variable", ["--bucket", "flag-bucket", "--region", "eu-west-1"], { GOCACHE_S3_BUCKET: "env-bucket", GOCACHE_S3_REGION: "us-east-2" }, { backend: "s3", bucket: "flag-bucket", region: "eu-west-1", pathStyle: false }],
    ["gs:// is Google Cloud Storage", ["--bucket", "gs://my-bucket.example"], {}, { backend: "gcs", bucket: "my-bucket.example" }],
    ["az:// is Azure Blob", [], { GOCACHE_S3_BUCKET: "az://acct1/cont-1" }, { backend: "azure", account: "acct1", container: "cont-1" }],
  ])("--bucket: %s", (_name, argv, env, want) => {
    expect(config(argv as string[], env as Record<string, string>).bucket).toEqual(want as never);
  });

  test.each([
    [["--bogus"], {}, /unknown flag --bogus/],
    [["--no-cache-dir"], {}, /unknown flag --no-cache-dir/],
    [["--expiry", "soon"], {}, /--expiry: invalid duration/],
    [["--max-size", "lots"], {}, /--max-size: invalid size/],
    [["-c", "0"], {}, /-c: expected a whole number >= 1/],
    [["--min-upload-size", "-5"], {}, /min-upload-size/],
    [["--s3-endpoint-url", "ftp://x"], {}, /expected an http\(s\) URL/],
    [["--bucket", "Bad Bucket!"], {}, /not a valid S3 bucket name/],
    [["--bucket", "gs://Bad_Upper"], {}, /not a valid Google Cloud Storage bucket/],
    [["--bucket", "az://account"], {}, /az:\/\/ACCOUNT\/CONTAINER/],
    [["--bucket", "az://UPPER/cont"], {}, /not a valid Azure storage account name/],
    [["--bucket", "az://acct/x--y"], {}, /not a valid Azure container name/],
    [["--bucket", "ftp://x"], {}, /unknown bucket scheme ftp:\/\//],
    [["--bucket", "gs://bucket", "--region", "eu-west-1"], {}, /--region, --s3-endpoint-url and --s3-path-style are for S3 buckets/],
    [["--debug", "x"], {}, /--debug: expected a bit mask/],
    [["--prefix", "ci//linux"], {}, /--prefix: "ci\/\/linux" is not a valid key prefix/],
    [["--prefix", "has space"], {}, /--prefix: .* is not a valid key prefix/],
    [["--compression", "lz4"], {}, /--compression: expected zstd or none/],
    [["--cache-dir"], {}, /--cache-dir needs a value/],
    [[], { GOCACHE_METRICS: "maybe" }, /GOCACHE_METRICS: expected true or false/],
  ])("rejects %p %p with a usage error", (argv, env, message) => {
    expect(() => config(argv, env)).toThrow(UsageError);
    expect(() => config(argv, env)).toThrow(message);
  });

  test.each([["90s", 90_000], ["1h30m", 5_400_000], ["7d", 604_800_000], ["0", 0], ["250ms", 250]])("duration %s", (s, ms) => {
    expect(parseDuration(s)).toBe(ms);
  });
  test.each([["1048576", 1048576], ["512MiB", 512 * 1024 ** 2], ["10G", 10 * 1024 ** 3], ["2KB", 2000]])("size %s", (s, n) => {
    expect(parseBytes(s)).toBe(n);
  });
});

describe("parseFlags", () => {
  const parse = (argv: string[]) => parseFlags(argv, CACHE_FLAGS);
  test.each([
    [["--cache-dir", "/d"], { _: [], "cache-dir": "/d" }],
    [["--cache-dir=/d=x"], { _: [], "cache-dir": "/d=x" }],
    [["-c", "4", "--concurrency=5"], { _: [], c: "5" }], // an alias is its flag; the last one wins
    [["--upload-concurrency", "3", "-v"], { _: [], u: "3", v: true }],
    [["--metrics", "--no-metrics"], { _: [], metrics: false }],
    [["--metrics=false", "--fsync=1"], { _: [], metrics: false, fsync: true }],
    [["--prefix", "-x"], { _: [], prefix: "-x" }], // a value may start with "-"
    [["serve", "-", "--", "--metrics"], { _: ["serve", "-", "--metrics"] }],
  ] as const)("%p", (argv, want) => {
    expect(parse([...argv])).toEqual(want as never);
  });

  test.each([
    [["--bogus"], /unknown flag --bogus/],
    [["--bogus=1"], /unknown flag --bogus$/],
    [["--no-prefix"], /unknown flag --no-prefix/],
    [["--no-metrics=1"], /unknown flag --no-metrics$/],
    [["--metrics=maybe"], /--metrics: expected true or false, got "maybe"/],
    [["--prefix"], /--prefix needs a value/],
    [["--prefix="], /--prefix needs a value/],
  ])("%p is a usage error", (argv, message) => {
    expect(() => parse(argv)).toThrow(UsageError);
    expect(() => parse(argv)).toThrow(message);
  });
});

describe("command line of the compiled binary", () => {
  const run = async (args: string[]) => {
    const p = Bun.spawn([binary(), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { stdout, stderr, code };
  };

  test.each([
    [["--bogus"], /unknown flag --bogus/],
    [["--expiry", "soon"], /invalid duration/],
    [["frobnicate"], /unknown command or argument "frobnicate"/],
    [["help", "nope"], /no help topic "nope"/],
  ])("%p: usage message, exit 2, no stack trace", async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain("--help");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // Spawned with a pipe, like the go command does: the capability line may already be out.
    expect(["", '{"ID":0,"KnownCommands":["get","put","close"]}\n']).toContain(r.stdout);
  });

  test.each([["configure", /--max-size/], ["environment", /GOCACHE_S3_BUCKET/], ["direct-mode", /GOCACHEPROG/], ["remote", /manifest-index/], ["server-mode", /connect 5930/], ["trust", /--read-prefix main/], ["trust", /s3:PutObject/], ["trust", /storage.objectCreator/], ["trust", /Storage Blob Data Contributor/]])("help %s", async (topic, text) => {
    const r = await run(["help", topic]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(text);
  });

  test("--help lists every flag with its environment variable", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    for (const [name, spec] of Object.entries(CACHE_FLAGS)) {
      expect(r.stdout).toContain(name.length === 1 ? `-${name}` : `--${name}`);
      if (spec.env) expect(r.stdout).toContain(spec.env);
    }
  });

  test("version", async () => {
    const r = await run(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^go-cache-plugin \d+\.\d+\.\d+/);
  });

  test("an unwritable cache directory is one clear line and exit 1", async () => {
    const r = await run(["--cache-dir", "/proc/no/such/dir"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot create cache directory \/proc\/no\/such\/dir/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("trust settings", () => {
  test.each([
    ["none", [], {}, [], undefined],
    ["flags: read prefixes in order, slashes trimmed, own and repeats dropped", ["--prefix", "pr/7", "--read-prefix", "main, /release/,pr/7,main", "--signing-key-file", "keys"], {}, ["main", "release"], `${process.cwd()}/keys`],
    ["the environment", [], { GOCACHE_READ_PREFIXES: "main", GOCACHE_SIGNING_KEY_FILE: "/etc/gocache/keys" }, ["main"], "/etc/gocache/keys"],
    ["a flag wins over the environment", ["--read-prefix", "a"], { GOCACHE_READ_PREFIXES: "b" }, ["a"], undefined],
  ] as const)("%s", (_n, argv, env, readPrefixes, keyFile) => {
    const c = config([...argv], { ...env });
    expect(c.readPrefixes).toEqual([...readPrefixes]);
    expect(c.signingKeyFile).toBe(keyFile);
  });

  test.each([["a/../b"], ["has space"], ["a//b"]])("--read-prefix %p is refused", (p) => {
    expect(() => config(["--read-prefix", `main,${p}`])).toThrow(UsageError);
  });
});
