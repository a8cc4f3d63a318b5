/**
 * The one place where flags and GOCACHE_* environment variables become a
 * validated Config. Flags win over the environment. Names follow
 * tailscale/go-cache-plugin so its users can swap binaries.
 */
import { posix, resolve, win32 } from "node:path";
import { parseBytes, parseDuration } from "./units.ts";
import { parseBucket, type BlobSpec } from "./blob/spec.ts";
import { isValidKey } from "./blob/port.ts";
import { MODE_BITS_MEAN_ACCESS } from "./platform.ts";

export interface Config {
  cacheDir: string;
  /** The cache directory may belong to another user or be group/other-writable (store/cache-dir.ts). */
  cacheDirShared: boolean;
  /** fsync files before they are renamed into place and journal lines before puts are answered. */
  fsync: boolean;
  /** The bucket backing the local cache, on its backend; undefined: local-only mode. */
  bucket: BlobSpec | undefined;
  /** How this process stores outputs, inline records and packs in the bucket (readers take both). */
  compression: "zstd" | "none";
  prefix: string;
  /** --read-prefix: namespaces read after `prefix`, in order; never written. */
  readPrefixes: string[];
  /** --signing-key-file (absolute), read only with a bucket (remote/trust/keys.ts); undefined: nothing signed or checked. */
  signingKeyFile: string | undefined;
  minUploadSize: number;
  concurrency: number;
  uploadConcurrency: number;
  uploadTimeoutMs: number;
  readOnly: boolean;
  metrics: boolean;
  expiryMs: number;
  maxSizeBytes: number;
  trimIntervalMs: number;
  /** How often a runner refreshes the trace of use it leaves in the bucket (remote/usage.ts); gc reads it. */
  useIntervalMs: number;
  verbose: boolean;
  /** Bit mask: 1 build cache requests, 2 module proxy. */
  debug: number;
}

type Kind = "string" | "boolean";
export interface FlagSpec { kind: Kind; env?: string; alias?: string; hint?: string; help: string }

/** Flags shared by direct mode and `serve`. */
export const CACHE_FLAGS: Record<string, FlagSpec> = {
  "cache-dir": { kind: "string", env: "GOCACHE_DIR", hint: "DIR", help: "Local cache directory (default: the user cache directory + /go-cache-plugin: $XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS, %LocalAppData% on Windows)" },
  "cache-dir-shared": { kind: "boolean", env: "GOCACHE_DIR_SHARED", help: "Accept a cache directory owned by another user or writable by group/others (refused by default: whoever writes it chooses what go links)" },
  fsync: { kind: "boolean", env: "GOCACHE_FSYNC", help: "fsync every cache file and journal line before answering (survives power loss; slower)" },
  bucket: { kind: "string", env: "GOCACHE_S3_BUCKET", hint: "URL", help: "Bucket backing the local cache: NAME or s3://NAME (S3), gs://NAME (Google Cloud Storage), az://ACCOUNT/CONTAINER (Azure Blob); none: local-only mode" },
  region: { kind: "string", env: "GOCACHE_S3_REGION", hint: "REGION", help: "S3 region (default: asked from the bucket's location)" },
  "s3-endpoint-url": { kind: "string", env: "GOCACHE_S3_ENDPOINT_URL", hint: "URL", help: "S3-compatible endpoint (R2, MinIO, ...)" },
  "s3-path-style": { kind: "boolean", env: "GOCACHE_S3_PATH_STYLE", help: "Use path-style S3 URLs" },
  prefix: { kind: "string", env: "GOCACHE_KEY_PREFIX", hint: "PREFIX", help: "Key prefix for every object in the bucket" },
  "read-prefix": { kind: "string", env: "GOCACHE_READ_PREFIXES", hint: "P[,P...]", help: "Read prefixes to fall back on after --prefix, in order (e.g. main for a pull-request build); writes stay under --prefix" },
  "signing-key-file": { kind: "string", env: "GOCACHE_SIGNING_KEY_FILE", hint: "FILE", help: "Sign every record written and trust only records signed by a listed key: lines '<key id> <secret> [namespaces]', the first signs (mode 0600; used only with --bucket; see 'help trust')" },
  compression: { kind: "string", env: "GOCACHE_COMPRESSION", hint: "zstd|none", help: "How uploads are stored: zstd (default; under our own keys) or none (raw in the compatible output/ layout, for fleets that mix in tailscale/go-cache-plugin); reads accept both" },
  "min-upload-size": { kind: "string", env: "GOCACHE_MIN_SIZE", hint: "BYTES", help: "Do not upload outputs smaller than this (default 0)" },
  c: { kind: "string", env: "GOCACHE_CONCURRENCY", alias: "concurrency", hint: "N", help: "Maximum concurrent remote reads (default 2 x CPUs)" },
  u: { kind: "string", env: "GOCACHE_S3_CONCURRENCY", alias: "upload-concurrency", hint: "N", help: "Maximum concurrent uploads (default 8)" },
  "upload-timeout": { kind: "string", env: "GOCACHE_UPLOAD_TIMEOUT", hint: "DURATION", help: "How long exit waits for pending uploads (default 5m); the rest stays journaled" },
  "read-only": { kind: "boolean", env: "GOCACHE_READ_ONLY", help: "Never write to the bucket (for untrusted builds)" },
  metrics: { kind: "boolean", env: "GOCACHE_METRICS", help: "Print a metrics summary line to stderr at exit" },
  expiry: { kind: "string", env: "GOCACHE_EXPIRY", hint: "DURATION", help: "Remove local entries (and, in serve, module proxy files) unused for this long (e.g. 72h; default: never)" },
  "max-size": { kind: "string", env: "GOCACHE_MAX_SIZE", hint: "BYTES", help: "Trim the local cache to this size, least recently used first (e.g. 10GiB)" },
  "trim-interval": { kind: "string", env: "GOCACHE_TRIM_INTERVAL", hint: "DURATION", help: "Trim at most this often (default 1h; 0 at every exit)" },
  "use-interval": { kind: "string", env: "GOCACHE_USE_INTERVAL", hint: "DURATION", help: "How often a build refreshes its trace of use in the bucket, which `gc` reads (default 24h; give gc the same value)" },
  v: { kind: "boolean", env: "GOCACHE_VERBOSE", alias: "verbose", help: "Verbose logging (implies --metrics)" },
  debug: { kind: "string", env: "GOCACHE_DEBUG", hint: "MASK", help: "Per-request debug logging: 1 build cache, 2 module proxy, 3 both" },
};

/** Flags of `serve` only. */
export const SERVE_FLAGS: Record<string, FlagSpec> = {
  plugin: { kind: "string", env: "GOCACHE_PLUGIN", hint: "PORT", help: "Serve the plugin protocol on 127.0.0.1:PORT (use `connect PORT`)" },
  socket: { kind: "string", env: "GOCACHE_SOCKET", hint: "PATH", help: "Serve the plugin protocol on a Unix socket (mode 0600)" },
  http: { kind: "string", env: "GOCACHE_HTTP", hint: "ADDR", help: "HTTP address for /metrics, /healthz and the module proxy ([host]:port; host defaults to 127.0.0.1)" },
  modproxy: { kind: "boolean", env: "GOCACHE_MODPROXY", help: "Serve a caching Go module proxy at /mod/ (needs --http)" },
  "modproxy-upstream": { kind: "string", env: "GOCACHE_MODPROXY_UPSTREAM", hint: "URL", help: "Upstream module proxy (default https://proxy.golang.org)" },
  sumdb: { kind: "string", env: "GOCACHE_SUMDB", hint: "NAMES", help: "Checksum databases to proxy under /mod/sumdb/ (comma-separated; default sum.golang.org)" },
  "token-file": { kind: "string", env: "GOCACHE_TOKEN_FILE", hint: "FILE", help: "Secret for --plugin clients (default: a fresh one per start in $XDG_RUNTIME_DIR/go-cache-plugin/PORT.token, else ~/.cache/go-cache-plugin/run/PORT.token); give connect the same flag" },
  "max-connections": { kind: "string", env: "GOCACHE_MAX_CONNECTIONS", hint: "N", help: "Close connections beyond this many open ones (default 256)" },
  "shutdown-timeout": { kind: "string", env: "GOCACHE_SHUTDOWN_TIMEOUT", hint: "DURATION", help: "After SIGTERM, how long open connections may finish before they are closed (default 30s)" },
  "modproxy-timeout": { kind: "string", env: "GOCACHE_MODPROXY_TIMEOUT", hint: "DURATION", help: "How long the module proxy waits for upstream response headers (default 30s)" },
  "modproxy-max-size": { kind: "string", env: "GOCACHE_MODPROXY_MAX_SIZE", hint: "BYTES", help: "Trim the module proxy's local files to this size, least recently used first (default 10GiB; 0: no limit)" },
  "http-allowed-hosts": { kind: "string", env: "GOCACHE_HTTP_ALLOWED_HOSTS", hint: "NAMES", help: "Host names the HTTP server answers besides localhost, IP addresses and the --http host (comma-separated; .example.com: it and its subdomains; *: any, no DNS rebinding guard)" },
};

export interface ServeConfig extends Config {
  plugin: number | undefined;
  /** --token-file: the TCP secret's file, shared with connect; default per port (server/token.ts). */
  tokenFile: string | undefined;
  maxConnections: number;
  shutdownTimeoutMs: number;
  socket: string | undefined;
  http: string | undefined;
  modproxy: boolean;
  modproxyUpstream: string;
  sumdb: string[];
  /** Upstream response-header deadline of the module proxy. */
  modproxyTimeoutMs: number;
  /** Cap of `<cache-dir>/modproxy/`; 0: none. */
  modproxyMaxSizeBytes: number;
  /** --http-allowed-hosts, lower-cased. */
  httpAllowedHosts: string[];
}

/** Builds the validated ServeConfig: the cache flags plus the serve flags. */
export function buildServeConfig(parsed: Record<string, unknown>, env: Record<string, string | undefined> = process.env, modeBits = MODE_BITS_MEAN_ACCESS): ServeConfig {
  const { config: base, own: get } = buildCommandConfig(parsed, SERVE_FLAGS, env);
  const pluginRaw = get("plugin") as string | undefined;
  let plugin: number | undefined;
  if (pluginRaw !== undefined) {
    plugin = Number(pluginRaw);
    if (!Number.isInteger(plugin) || plugin < 1 || plugin > 65535) throw new UsageError(`--plugin: expected a port number, got ${JSON.stringify(pluginRaw)}`);
  }
  const socket = get("socket") as string | undefined;
  if (plugin === undefined && socket === undefined) throw new UsageError("serve needs --plugin PORT or --socket PATH");
  // A socket's only guard is its file mode (0600), which Windows does not enforce (platform.ts).
  if (socket !== undefined && !modeBits) throw new UsageError("--socket: a Unix socket is guarded by its file mode, which means nothing on Windows; use --plugin PORT (token-authenticated)");
  const http = get("http") as string | undefined;
  const modproxy = (get("modproxy") as boolean | undefined) ?? false;
  if (modproxy && !http) throw new UsageError("--modproxy needs --http ADDR");
  const upstream = ((get("modproxy-upstream") as string | undefined) ?? "https://proxy.golang.org").replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+/.test(upstream)) throw new UsageError(`--modproxy-upstream: expected an http(s) URL, got ${JSON.stringify(upstream)}`);
  const sumdb = ((get("sumdb") as string | undefined) ?? "sum.golang.org").split(",").map((x) => x.trim()).filter(Boolean);
  const timeoutRaw = get("modproxy-timeout") as string | undefined;
  const modproxyTimeoutMs = timeoutRaw === undefined ? 30_000 : wrap("modproxy-timeout", () => parseDuration(timeoutRaw));
  if (modproxyTimeoutMs <= 0) throw new UsageError("--modproxy-timeout: must be more than 0");
  const modMaxRaw = get("modproxy-max-size") as string | undefined;
  const modproxyMaxSizeBytes = modMaxRaw === undefined ? 10 * 1024 ** 3 : wrap("modproxy-max-size", () => parseBytes(modMaxRaw));
  const httpAllowedHosts = ((get("http-allowed-hosts") as string | undefined) ?? "").split(",").map((x) => x.trim().toLowerCase()).filter(Boolean);
  const badHost = httpAllowedHosts.find((h) => h !== "*" && !/^\.?[a-z0-9_]([a-z0-9_\-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_\-]*[a-z0-9_])?)*\.?$/.test(h));
  if (badHost !== undefined) throw new UsageError(`--http-allowed-hosts: ${JSON.stringify(badHost)} is not a host name (want names like gocache.internal, .example.com or *)`);
  const tokenFile = get("token-file") as string | undefined;
  if (tokenFile !== undefined && plugin === undefined) throw new UsageError("--token-file is for --plugin PORT (a --socket is protected by its file mode)");
  const maxRaw = get("max-connections") as string | undefined;
  const maxConnections = maxRaw === undefined ? 256 : Number(maxRaw);
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) throw new UsageError(`--max-connections: expected a whole number >= 1, got ${JSON.stringify(maxRaw)}`);
  const shutdownRaw = get("shutdown-timeout") as string | undefined;
  const shutdownTimeoutMs = shutdownRaw === undefined ? 30_000 : wrap("shutdown-timeout", () => parseDuration(shutdownRaw));
  return { ...base, plugin, tokenFile: tokenFile ? resolve(tokenFile) : undefined, maxConnections, shutdownTimeoutMs, socket: socket ? resolve(socket) : undefined, http, modproxy, modproxyUpstream: upstream, sumdb, modproxyTimeoutMs, modproxyMaxSizeBytes, httpAllowedHosts };
}

/** Thrown for bad command lines: the CLI prints the message and usage, and exits 2. */
export class UsageError extends Error {}

/** A parsed command line: flag values by canonical name (aliases folded in), positionals in `_`. */
export type ParsedFlags = { _: string[] } & Record<string, string | boolean | string[] | undefined>;

/**
 * Parses a command line against flag specs, for every command (direct mode
 * runs it on each go command's start, so it is one pass with no case
 * conversion). Accepted: `--name value` and `--name=value` (a value may start
 * with "-"), `-n`/`--n` for one-letter names and aliases alike, booleans as
 * `--name`, `--name=true|false` or `--no-name`; `--` ends the flags; the last
 * of a repeated flag wins. An unknown flag, or a value flag without a value,
 * is a UsageError.
 */
export function parseFlags(argv: string[], specs: Record<string, FlagSpec>): ParsedFlags {
  const byName = new Map<string, [string, FlagSpec]>();
  for (const name in specs) {
    const s = specs[name]!;
    byName.set(name, [name, s]);
    if (s.alias) byName.set(s.alias, [name, s]);
  }
  const out: ParsedFlags = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") { out._.push(...argv.slice(i + 1)); break; }
    if (arg.length < 2 || arg.charCodeAt(0) !== 45 /* - */) { out._.push(arg); continue; }
    const body = arg.charCodeAt(1) === 45 ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf("=");
    const key = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const found = byName.get(key);
    if (!found) {
      const negated = key.startsWith("no-") ? byName.get(key.slice(3)) : undefined;
      if (negated?.[1].kind !== "boolean" || inline !== undefined) throw new UsageError(`unknown flag ${eq < 0 ? arg : arg.slice(0, arg.indexOf("="))}`);
      out[negated[0]] = false;
      continue;
    }
    const [name, spec] = found;
    if (spec.kind === "boolean") {
      const value = inline === undefined ? true : parseBool(inline);
      if (value === undefined) throw new UsageError(`flag --${name}: expected true or false, got ${JSON.stringify(inline)}`);
      out[name] = value;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value === "") throw new UsageError(`flag --${name} needs a value`);
    out[name] = value;
  }
  return out;
}

/** A boolean's text, in a flag (`--x=false`) or a variable alike; undefined when it is neither. */
function parseBool(text: string): boolean | undefined {
  if (/^(1|t|true|yes|on)$/i.test(text)) return true;
  if (/^(0|f|false|no|off)$/i.test(text)) return false;
  return undefined;
}

/** Value of one flag: the parsed command line first, then its environment variable. */
export function flagValue(parsed: Record<string, unknown>, name: string, spec: FlagSpec, env: Record<string, string | undefined>): string | boolean | undefined {
  const v = parsed[name];
  if (v !== undefined) {
    if (spec.kind === "string" && (v === "" || typeof v !== "string")) throw new UsageError(`flag --${name} needs a value`);
    return v as string | boolean;
  }
  const e = spec.env ? env[spec.env] : undefined;
  if (e === undefined || e === "") return undefined;
  if (spec.kind === "boolean") {
    const value = parseBool(e);
    if (value !== undefined) return value;
    throw new UsageError(`$${spec.env}: expected true or false, got ${JSON.stringify(e)}`);
  }
  return e;
}

/** Builds the validated Config from parsed flags and the environment. */
export function buildConfig(parsed: Record<string, unknown>, env: Record<string, string | undefined> = process.env): Config {
  const get = (name: string) => flagValue(parsed, name, CACHE_FLAGS[name]!, env);
  const str = (name: string) => get(name) as string | undefined;
  const bool = (name: string) => (get(name) as boolean | undefined) ?? false;
  const num = (name: string, dflt: number, min: number) => {
    const raw = str(name);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name}: expected a whole number >= ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const dur = (name: string, dflt: number) => durationFlag(name, str(name), dflt);
  const bytes = (name: string) => bytesFlag(name, str(name)) ?? 0;

  const endpoint = str("s3-endpoint-url");
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) throw new UsageError(`--s3-endpoint-url: expected an http(s) URL, got ${JSON.stringify(endpoint)}`);
  const bucketRaw = str("bucket");
  const s3 = { region: str("region"), endpoint, pathStyle: bool("s3-path-style") };
  const bucket = bucketRaw === undefined ? undefined : wrap("bucket", () => parseBucket(bucketRaw, s3));
  const prefix = (str("prefix") ?? "").replace(/^\/+|\/+$/g, "");
  // Every key starts with it: a prefix no backend can carry fails here, not at every request.
  if (prefix && !isValidKey(`${prefix}/x`)) throw new UsageError(`--prefix: ${JSON.stringify(prefix.slice(0, 100))} is not a valid key prefix (printable ASCII without spaces, \\ ? # %, no empty, . or .. segments)`);
  const readPrefixes: string[] = [];
  for (const raw of (str("read-prefix") ?? "").split(",")) {
    const p = raw.trim().replace(/^\/+|\/+$/g, "");
    if (raw.trim() === "") continue;
    if (p && !isValidKey(`${p}/x`)) throw new UsageError(`--read-prefix: ${JSON.stringify(p.slice(0, 100))} is not a valid key prefix (printable ASCII without spaces, \\ ? # %, no empty, . or .. segments)`);
    if (p !== prefix && !readPrefixes.includes(p)) readPrefixes.push(p);
  }
  const keyFile = str("signing-key-file");
  const compression = str("compression") ?? "zstd";
  if (compression !== "zstd" && compression !== "none") throw new UsageError(`--compression: expected zstd or none, got ${JSON.stringify(compression)}`);
  const debugRaw = str("debug");
  let debug = 0;
  if (debugRaw !== undefined) {
    debug = /^(true|yes|on)$/i.test(debugRaw) ? 3 : Number(debugRaw);
    if (!Number.isInteger(debug) || debug < 0) throw new UsageError(`--debug: expected a bit mask (1, 2 or 3), got ${JSON.stringify(debugRaw)}`);
  }
  const cpus = navigator.hardwareConcurrency || 2;
  const verbose = bool("v");
  return {
    cacheDir: resolveCacheDir(str("cache-dir"), env),
    cacheDirShared: bool("cache-dir-shared"),
    fsync: bool("fsync"),
    bucket,
    compression,
    prefix,
    readPrefixes,
    signingKeyFile: keyFile ? resolve(keyFile) : undefined,
    minUploadSize: num("min-upload-size", 0, 0),
    concurrency: num("c", 2 * cpus, 1),
    uploadConcurrency: num("u", 8, 1),
    uploadTimeoutMs: dur("upload-timeout", 5 * 60_000),
    readOnly: bool("read-only"),
    metrics: bool("metrics") || verbose,
    expiryMs: dur("expiry", 0),
    maxSizeBytes: bytes("max-size"),
    trimIntervalMs: dur("trim-interval", 60 * 60_000),
    useIntervalMs: positive("use-interval", dur("use-interval", 24 * 60 * 60_000)),
    verbose,
    debug,
  };
}

function positive(name: string, ms: number): number {
  if (ms <= 0) throw new UsageError(`--${name}: must be more than 0`);
  return ms;
}

/**
 * For a subcommand with flags of its own besides the cache flags: the
 * validated Config, and a getter for the command's own flags (flag, then
 * environment variable).
 */
export function buildCommandConfig(parsed: Record<string, unknown>, own: Record<string, FlagSpec>, env: Record<string, string | undefined> = process.env): { config: Config; own(name: string): string | boolean | undefined } {
  const cacheOnly = Object.fromEntries(Object.entries(parsed).filter(([k]) => !(k in own)));
  return { config: buildConfig(cacheOnly, env), own: (name) => flagValue(parsed, name, own[name]!, env) };
}

/** A size flag's value in bytes (UsageError naming the flag when it does not parse). */
export function bytesFlag(name: string, raw: string | boolean | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string") throw new UsageError(`--${name} needs a value`);
  return wrap(name, () => parseBytes(raw));
}

/** A duration flag's value in milliseconds (UsageError naming the flag when it does not parse). */
export function durationFlag(name: string, raw: string | boolean | undefined, dflt: number): number {
  if (raw === undefined) return dflt;
  if (typeof raw !== "string") throw new UsageError(`--${name} needs a value`);
  return wrap(name, () => parseDuration(raw));
}

function wrap<T>(name: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UsageError(`--${name}: ${(err as Error).message}`);
  }
}

/**
 * --cache-dir, else the user cache directory as Go's os.UserCacheDir finds it,
 * plus /go-cache-plugin: $XDG_CACHE_HOME (if absolute) else $HOME/.cache on
 * Linux and other Unix, $HOME/Library/Caches on macOS, %LocalAppData% on
 * Windows. Always absolute; a missing variable is a UsageError.
 */
export function resolveCacheDir(flag: string | undefined, env: Record<string, string | undefined>, platform: NodeJS.Platform = process.platform): string {
  if (flag) return resolve(flag);
  const none = (what: string) => new UsageError(`no default cache directory: ${what}; set --cache-dir or GOCACHE_DIR`);
  if (platform === "win32") {
    const local = env.LocalAppData || env.LOCALAPPDATA;
    if (!local) throw none("%LocalAppData% is not set");
    return win32.join(local, "go-cache-plugin");
  }
  const home = env.HOME;
  if (platform === "darwin") {
    if (!home) throw none("$HOME is not set");
    return posix.join(home, "Library", "Caches", "go-cache-plugin");
  }
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && posix.isAbsolute(xdg)) return posix.join(xdg, "go-cache-plugin");
  if (!home) throw none("neither $XDG_CACHE_HOME nor $HOME is set");
  return posix.join(home, ".cache", "go-cache-plugin");
}
