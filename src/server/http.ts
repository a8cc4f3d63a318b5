/**
 * The HTTP side of `serve --http`: /metrics (Prometheus text), /healthz, a
 * small status page at /, and any mounted handlers (the module proxy at
 * /mod/). Loopback unless the address names another host.
 */
import type { Server } from "bun";
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
}

/** "5970", ":5970", "host:5970" -> hostname and port; no host means 127.0.0.1. */
export function parseHttpAddress(addr: string): { hostname: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`invalid HTTP address ${JSON.stringify(addr)} (try 127.0.0.1:5970 or :5970)`);
  return { hostname: m[1] || "127.0.0.1", port };
}

export function startHttp(opts: HttpOptions): Server<undefined> {
  const { hostname, port } = parseHttpAddress(opts.address);
  return Bun.serve({
    hostname,
    port,
    fetch(req) {
      const url = new URL(req.url);
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
