/**
 * The caching Go module proxy, mounted at /mod/ by `serve --http --modproxy`:
 * the GOPROXY protocol (`GOPROXY=http://host:port/mod`) and the checksum
 * database proxy under /mod/sumdb/. GET and HEAD only. Every answer is
 * either a stored file streamed from disk, an upstream 404/410 passed on
 * with its text, or a plain-text 400/404 with a reason; an upstream that
 * keeps failing is a 404 with `Cache-Control: no-store`, never a 5xx.
 */
import type { ServeConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Mount } from "../server/http.ts";
import { ModBucket } from "./bucket.ts";
import { fileOf, isImmutable, parseModPath, type ModRequest } from "./paths.ts";
import { Resolver, SMALL_MAX, newModCounters, type Answer, type ModCounters } from "./resolve.ts";
import { ModStorage } from "./storage.ts";
import { isSumdbName, routeSumdb } from "./sumdb.ts";
import { scheduleModuleTrim } from "./trim.ts";
import { validatorFor } from "./validate.ts";
import { checkModuleZip } from "./zipcheck.ts";
import { Upstream } from "./upstream.ts";

/** The go command refuses module zips larger than this; so do we. */
export const MAX_ZIP_BYTES = 500 << 20;
/** How long list, @latest and query .info are served without asking upstream. */
export const MUTABLE_TTL_MS = 60_000;

export interface ModProxyOptions {
  config: Pick<ServeConfig, "cacheDir" | "bucket" | "prefix" | "readOnly" | "modproxyUpstream" | "sumdb">
    & Partial<Pick<ServeConfig, "modproxyTimeoutMs" | "modproxyMaxSizeBytes" | "expiryMs" | "trimIntervalMs">>;
  log: Logger;
  metrics?: Metrics;
  /** For tests: a smaller zip limit, faster retries. */
  maxZipBytes?: number;
  backoffMs?: number;
}

export interface ModProxy extends Mount {
  counters: ModCounters;
  storage: ModStorage;
  /** Stops the periodic trim of the local copy. */
  close(): void;
}

export function createModProxy(opts: ModProxyOptions): ModProxy {
  const { config, log } = opts;
  for (const n of config.sumdb) if (!isSumdbName(n)) throw new Error(`[modproxy] --sumdb: ${JSON.stringify(n)} is not a checksum database host name`);
  const counters = newModCounters();
  opts.metrics?.register("modproxy", () => ({ ...counters }));
  const bucket = config.bucket ? new ModBucket({ blob: config.bucket, prefix: config.prefix }) : undefined;
  const storage = new ModStorage({ dir: config.cacheDir, bucket, readOnly: config.readOnly, log });
  const maxZip = opts.maxZipBytes ?? MAX_ZIP_BYTES;
  const upstream = new Upstream({ baseUrl: config.modproxyUpstream, maxBytes: maxZip, headerTimeoutMs: config.modproxyTimeoutMs, backoffMs: opts.backoffMs, onAttempt: () => counters.upstreamFetches++ });
  const resolver = new Resolver(storage, upstream, counters, log);
  // The local copy's own bound (--max-size counts the build cache only), checked as often as the build cache's trim.
  const maxSize = config.modproxyMaxSizeBytes ?? 0;
  const stopTrim = maxSize > 0 ? scheduleModuleTrim({ root: storage.root, expiryMs: config.expiryMs ?? 0, maxSizeBytes: maxSize, everyMs: Math.max(config.trimIntervalMs ?? 3_600_000, 60_000), log }) : () => {};

  const moduleAnswer = (r: ModRequest, revalidate: boolean): Promise<Answer> => {
    const key = `module/${r.escModule}/${fileOf(r)}`;
    const path = `${r.escModule}/${fileOf(r)}`;
    if (!isImmutable(r)) return resolver.mutable(key, path, MUTABLE_TTL_MS, revalidate, validatorFor(r));
    if (r.kind !== "zip") return resolver.immutable(key, path, { validator: validatorFor(r) });
    const verify = async (tmp: string) => {
      const mod = await resolver.immutable(`module/${r.escModule}/@v/${r.escVersion}.mod`, `${r.escModule}/@v/${r.escVersion}.mod`, { validator: validatorFor({ ...r, kind: "mod" }) });
      const expectedMod = mod.kind === "file" ? await Bun.file(mod.file.path).bytes() : undefined;
      const check = await checkModuleZip({ path: tmp, module: r.module, version: r.version!, maxBytes: maxZip, expectedMod });
      return check.ok ? undefined : check.reason;
    };
    return resolver.immutable(key, path, { verify, bodyTimeoutMs: 10 * 60_000, maxBytes: maxZip });
  };

  const answer = async (req: Request, rest: string): Promise<Response> => {
    const revalidate = /no-cache|max-age=0/.test(req.headers.get("cache-control") ?? "");
    if (rest.startsWith("sumdb/")) {
      const route = routeSumdb(config.sumdb, rest.slice("sumdb/".length));
      if ("status" in route) return rejected(route.status, route.reason);
      if (route.action === "supported") return new Response("", { status: 200, headers: { "Content-Type": "text/plain" } });
      const a = route.action === "pass" ? await resolver.passThrough(route.upstreamPath)
        : route.action === "mutable" ? await resolver.mutable(route.key, route.upstreamPath, route.ttlMs, revalidate, route.validator)
        : await resolver.immutable(route.key, route.upstreamPath, { maxBytes: SMALL_MAX, validator: route.validator });
      return respond(req, a, route.action === "immutable", "text/plain; charset=utf-8");
    }
    const r = parseModPath(rest);
    if ("status" in r) return rejected(r.status, r.reason);
    const type = r.kind === "zip" ? "application/zip" : r.kind === "info" || r.kind === "latest" ? "application/json" : "text/plain; charset=utf-8";
    return respond(req, await moduleAnswer(r, revalidate), isImmutable(r), type);
  };

  const rejected = (status: number, reason: string) => {
    counters.rejected++;
    return text(status, reason);
  };

  const respond = (req: Request, a: Answer, immutable: boolean, type: string): Response => {
    if (a.kind === "missing" || a.kind === "failed") {
      counters.notFound++;
      return a.kind === "missing" ? text(a.status, a.text) : text(404, `upstream unavailable: ${a.reason}`);
    }
    const size = a.kind === "file" ? a.file.size : a.bytes.length;
    if (req.method === "GET") counters.bytesServed += size;
    // Bytes are never stored here (pass-through, or failed validation): no one else may keep them either.
    const cache = a.kind === "bytes" ? "no-store" : a.source === "stale" ? "no-cache" : immutable ? "public, max-age=31536000, immutable" : "public, max-age=60";
    const headers = { "Content-Type": type, "Cache-Control": cache, "X-Modproxy-Source": a.source };
    return new Response(a.kind === "file" ? Bun.file(a.file.path) : a.bytes, { headers });
  };

  return {
    prefix: "/mod/",
    counters,
    storage,
    close: stopTrim,
    async handle(req: Request, url: URL): Promise<Response> {
      const started = performance.now();
      counters.requests++;
      let res: Response;
      if (req.method !== "GET" && req.method !== "HEAD") res = new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, HEAD", "Content-Type": "text/plain" } });
      else {
        try {
          res = await answer(req, url.pathname.slice("/mod/".length));
        } catch (err) {
          log.warn(`[modproxy] ${url.pathname}: ${(err as Error).message}`);
          res = text(404, `module proxy error: ${(err as Error).message}`);
        }
      }
      if (log.debugEnabled) log.debug(`modproxy ${req.method} ${url.pathname} ${res.status} ${res.headers.get("x-modproxy-source") ?? "-"} ${(performance.now() - started).toFixed(1)}ms`);
      return res;
    },
  };
}

/** A plain-text answer that no cache keeps. */
function text(status: number, body: string): Response {
  return new Response(body.endsWith("\n") ? body : `${body}\n`, { status, headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" } });
}
