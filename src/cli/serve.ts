/** `serve`: one long-lived cache for every go command on the machine. Parses, wires, runs. */
import { CACHE_FLAGS, SERVE_FLAGS, UsageError, buildServeConfig, parseFlags } from "../config.ts";
import { createLogger } from "../log.ts";
import { Histogram, Metrics } from "../metrics.ts";
import { newSessionCounters } from "../server/session.ts";
import { PluginServer } from "../server/socket.ts";
import { startHttp, type Mount } from "../server/http.ts";
import { prepareCacheDir } from "../store/cache-dir.ts";
import { moduleCacheRoot, trimModuleCacheLogged } from "../modproxy/trim.ts";
import { trimIfDue } from "../store/trim.ts";
import { appendSessionLog } from "../store/session-log.ts";
import { describeSpec } from "../blob/spec.ts";
import { wireCache } from "./wire.ts";
import { SERVE_USAGE } from "./usage.ts";
import { newSecret, publishToken, readToken, removeToken } from "../server/token.ts";
import { existsSync } from "node:fs";

export async function runServe(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  const specs = { ...CACHE_FLAGS, ...SERVE_FLAGS };
  const parsed = parseFlags(argv, specs);
  if (parsed._.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(parsed._[0])}`);
  const config = buildServeConfig(parsed);
  prepareCacheDir(config.cacheDir, { shared: config.cacheDirShared });

  const log = createLogger({ verbose: true, debug: (config.debug & 1) !== 0 });
  const metrics = new Metrics();
  const counters = newSessionCounters();
  const getLatency = new Histogram();
  metrics.register("cache", () => ({ ...counters }));
  metrics.registerHistogram("gocache_get_duration_seconds", "Time to answer a get, local or remote.", getLatency);
  const { cache, local, afterStart } = await wireCache(config, log, metrics);

  // The secret is published only once we listen: a start that fails must not replace a running server's.
  const secret = config.plugin === undefined ? undefined : config.tokenFile && existsSync(config.tokenFile) ? readToken(config.tokenFile) : newSecret();
  const servers = [secret ? { port: config.plugin!, secret } : undefined, config.socket ? { path: config.socket } : undefined]
    .filter((a) => a !== undefined)
    .map((address) => new PluginServer({ address, cache, log, counters, getLatency, maxConnections: config.maxConnections, onSessionEnd: (s) => appendSessionLog(local.layout, s) }));
  for (const s of servers) {
    metrics.register("connections", () => ({ ...s.connections }), ["active"]);
    log.info(`plugin protocol listening on ${await s.listen()}`);
  }
  const token = secret ? { path: publishToken(config.plugin!, secret, config.tokenFile), secret } : undefined;
  if (token) log.info(`clients authenticate with the token in ${token.path}`);

  const mounts: Mount[] = [];
  if (config.modproxy) {
    const { createModProxy } = await import("../modproxy/mount.ts");
    mounts.push(createModProxy({ config, log: createLogger({ verbose: false, debug: (config.debug & 2) !== 0 }), metrics }));
    log.info(`module proxy at /mod/ (upstream ${config.modproxyUpstream}; checksum databases: ${config.sumdb.join(", ") || "none"})`);
  }
  const http = config.http
    ? startHttp({ address: config.http, metrics, mounts, allowedHosts: config.httpAllowedHosts, log, describe: () => ({ "cache dir": config.cacheDir, bucket: config.bucket ? describeSpec(config.bucket) : "(none: local only)", plugin: config.plugin ?? "-", socket: config.socket ?? "-" }) })
    : undefined;
  if (http) log.info(`HTTP listening on http://${http.hostname}:${http.port}/`);
  afterStart();

  const trimEvery = Math.max(config.trimIntervalMs, 60_000);
  // With its own cap the module proxy trims its files itself (expiry included); otherwise the build cache's trim does it by --expiry.
  const moduleCache = config.modproxy && config.modproxyMaxSizeBytes <= 0 ? moduleCacheRoot(config.cacheDir) : undefined;
  const trim = () => {
    const ran = trimIfDue({ layout: local.layout, expiryMs: config.expiryMs, maxSizeBytes: config.maxSizeBytes, intervalMs: config.trimIntervalMs, log });
    if (ran && moduleCache && config.expiryMs > 0) trimModuleCacheLogged({ root: moduleCache, expiryMs: config.expiryMs, log });
  };
  const trimTimer = setInterval(trim, trimEvery);
  trimTimer.unref();

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log.info(`${signal}: no new connections; waiting for open ones, then for uploads (up to ${config.uploadTimeoutMs / 1000}s)`);
      void (async () => {
        http?.stop();
        await Promise.all(servers.map((s) => s.shutdown(config.shutdownTimeoutMs)));
        resolve();
      })();
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
  clearInterval(trimTimer);
  if (token && !config.tokenFile) removeToken(token.path, token.secret);
  await cache.close();
  if (config.metrics) log.warn(metrics.summary());
  log.info("stopped");
  return 0;
}
