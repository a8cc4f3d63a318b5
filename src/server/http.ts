/**
 * The HTTP side of `serve --http`: /metrics (Prometheus text), /healthz, a
 * small status page at /, and any mounted handlers (the module proxy at
 * /mod/). Loopback unless the address names another host.
 *
 * DNS rebinding guard: a web page can point a name it controls at
 * 127.0.0.1 and then read our answers as its own origin, but its requests
 * carry that name in `Host`. So only these Host names are answered (port
 * ignored): IP literals (a page whose origin is an IP address is that
 * address, no rebinding possible), `localhost` and `*.localhost` (browsers
 * resolve those themselves), the --http host name, and the names of
 * --http-allowed-hosts. Others get a plain-text 403. A request without
 * Host (HTTP/1.0 health checks) cannot come from a browser and is answered.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { Server } from "bun";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";

/** A mounted handler: answers requests under its path prefix. */
export interface Mount {
  prefix: string;
  handle(req: Request, url: URL): Response | Promise<Response>;
}

export interface HttpOptions {
  address: string;
  metrics: Metrics;
  /** Lines for the status page (cache dir, bucket, ...). */
  describe: () => Record<string, string | number>;
  mounts?: Mount[];
  /** --http-allowed-hosts: more Host names to answer; `.example.com` also covers its subdomains, `*` any name. */
  allowedHosts?: readonly string[];
  /** Warned once when a Host is first refused. */
  log?: Logger;
}

const normalize = (name: string) => name.toLowerCase().replace(/\.$/, "");

/**
 * The DNS rebinding guard for a server listening on `listenHost`: given a
 * request's Host header (null when absent), why it is refused, or undefined.
 */
export function hostGuard(listenHost: string, allowed: readonly string[] = []): (host: string | null) => string | undefined {
  const names = new Set([normalize(listenHost), "localhost", ...allowed.filter((a) => !a.startsWith(".")).map(normalize)]);
  const domains = allowed.filter((a) => a.startsWith(".")).map((a) => normalize(a.slice(1)));
  const any = allowed.includes("*");
  return (host) => {
    if (host === null || host === "") return undefined;
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.\-]+))(?::\d{1,5})?$/.exec(host);
    if (!m) return `malformed Host header ${JSON.stringify(host.slice(0, 100))}`;
    if (m[1] !== undefined) return isIPv6(m[1]) ? undefined : `malformed Host header ${JSON.stringify(host.slice(0, 100))}`;
    const name = normalize(m[2]!);
    if (any || isIPv4(name) || names.has(name) || name.endsWith(".localhost") || domains.some((d) => name === d || name.endsWith(`.${d}`))) return undefined;
    return `Host ${JSON.stringify(name)} is not served here: this server answers localhost, IP addresses, its --http host and the names in --http-allowed-hosts (a guard against DNS rebinding)`;
  };
}

/** "5970", ":5970", "host:5970" -> hostname and port; no host means 127.0.0.1. */
/**
 * Why a request made by a web page of another site is refused, or undefined.
 * The Host check does not stop a page from sending simple requests to
 * 127.0.0.1 (a no-cors GET of /mod/... would make us download and store
 * modules of its choice); browsers mark those with Origin or Sec-Fetch-Site,
 * which the go command and curl never send.
 */
export function crossSite(req: Request): string | undefined {
  const site = req.headers.get("sec-fetch-site");
  if (site && site !== "none" && site !== "same-origin") return `cross-site request refused (Sec-Fetch-Site: ${site})`;
  const origin = req.headers.get("origin");
  if (origin && origin !== "null") {
    try {
      if (new URL(origin).host === req.headers.get("host")) return undefined;
    } catch { /* malformed: refused below */ }
    return `cross-origin request refused (Origin: ${origin.slice(0, 100)})`;
  }
  if (origin === "null") return "cross-origin request refused (Origin: null)";
  return undefined;
}

export function parseHttpAddress(addr: string): { hostname: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`invalid HTTP address ${JSON.stringify(addr)} (try 127.0.0.1:5970 or :5970)`);
  return { hostname: m[1] || "127.0.0.1", port };
}

export function startHttp(opts: HttpOptions): Server<undefined> {
  const { hostname, port } = parseHttpAddress(opts.address);
  const guard = hostGuard(hostname, opts.allowedHosts);
  const counters = { refusedHosts: 0 };
  opts.metrics.register("http", () => ({ ...counters }));
  return Bun.serve({
    hostname,
    port,
    fetch(req) {
      const refused = guard(req.headers.get("host")) ?? crossSite(req);
      if (refused) {
        if (counters.refusedHosts++ === 0) opts.log?.warn(`[http] ${refused} (further refusals are only counted in gocache_http_refused_hosts_total)`);
        return new Response(`${refused}\n`, { status: 403, headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" } });
      }
      const url = new URL(req.url, "http://localhost"); // without Host, Bun gives a bare path
      for (const m of opts.mounts ?? []) if (url.pathname.startsWith(m.prefix)) return m.handle(req, url);
      if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, HEAD" } });
      switch (url.pathname) {
        case "/metrics":
          return new Response(opts.metrics.prometheus(), { headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" } });
        case "/healthz":
          return new Response("ok\n", { headers: { "Content-Type": "text/plain" } });
        case "/":
          return new Response(statusPage(opts), { headers: { "Content-Type": "text/html; charset=utf-8" } });
        default:
          return new Response("not found\n", { status: 404 });
      }
    },
    error(err) {
      return new Response(`internal error: ${err.message}\n`, { status: 500 });
    },
  });
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

function statusPage(opts: HttpOptions): string {
  const rows = (o: Record<string, string | number>) => Object.entries(o).map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(String(v))}</td></tr>`).join("");
  return `<!doctype html><meta charset="utf-8"><title>go-cache-plugin</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}th{text-align:left;padding-right:2em;font-weight:normal;color:#555}td{font-family:monospace}</style>
<h1>go-cache-plugin</h1><table>${rows(opts.describe())}</table>
<h2>Counters</h2><table>${rows(opts.metrics.snapshot())}</table>
<p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>`;
}
