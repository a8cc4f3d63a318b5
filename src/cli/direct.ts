/** Direct mode: `GOCACHEPROG=go-cache-plugin [flags]`. Parses, wires, runs; no logic of its own. */
import { CACHE_FLAGS, UsageError, buildConfig, parseFlags } from "../config.ts";
import { createLogger } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { announce, serveStdio } from "../server/stdio.ts";
import { newSessionCounters } from "../server/session.ts";
import { wireCache } from "./wire.ts";
import { prepareCacheDir } from "../store/cache-dir.ts";
import { trimIfDue } from "../store/trim.ts";
import { appendSessionLog } from "../store/session-log.ts";
import { describeSpec } from "../blob/spec.ts";
import { printUsage } from "./usage.ts";

/** `announced`: the entry point already sent the capability message. */
export async function runDirect(argv: string[], opts: { announced: boolean } = { announced: false }): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    printUsage();
    return 0;
  }
  const parsed = parseFlags(argv, CACHE_FLAGS);
  if (parsed._.length > 0) throw new UsageError(`unknown command or argument ${JSON.stringify(parsed._[0])}`);
  const config = buildConfig(parsed);
  prepareCacheDir(config.cacheDir, { shared: config.cacheDirShared });
  if (!opts.announced) announce(); // before anything slow: the go command is waiting for it

  const log = createLogger({ verbose: config.verbose, debug: (config.debug & 1) !== 0 });
  const metrics = new Metrics();
  const counters = newSessionCounters();
  metrics.register("cache", () => ({ ...counters }));
  const { cache, local, afterStart } = await wireCache(config, log, metrics);
  log.info(`direct mode, cache ${config.cacheDir}${config.bucket ? `, bucket ${describeSpec(config.bucket)}${config.readOnly ? " (read-only)" : ""}` : ""}`);
  afterStart();

  const code = await serveStdio({ cache, log, counters, onEnd: (s) => appendSessionLog(local.layout, s) });
  await cache.close();
  trimIfDue({ layout: local.layout, expiryMs: config.expiryMs, maxSizeBytes: config.maxSizeBytes, intervalMs: config.trimIntervalMs, log });
  if (config.metrics) log.warn(metrics.summary());
  return code;
}
