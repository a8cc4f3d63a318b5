/**
 * Module proxy benchmark: `go mod download` of a module with many real
 * dependencies into a fresh GOMODCACHE, through our warm proxy
 * (`serve --modproxy`, upstream proxy.golang.org) versus `GOPROXY=file://`
 * over a local copy of the same files (GOMODCACHE/cache/download after a
 * first download). Prints the medians and their ratio; the target is within
 * 1.5x of file://.
 *
 *   node_modules/.bin/bun run build.ts && node_modules/.bin/bun run bench/modproxy.ts [runs]
 *
 * Needs the network once (to warm the proxy); the timed runs never leave
 * the machine.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { goBinary } from "../test/support/go.ts";
import { freePort } from "../test/support/net.ts";
import { binary } from "../test/support/paths.ts";

const RUNS = Number(process.argv[2] ?? 5);
const REQUIRES = [
  ["github.com/gin-gonic/gin", "v1.10.0"],
  ["github.com/spf13/cobra", "v1.8.1"],
  ["github.com/spf13/viper", "v1.19.0"],
  ["github.com/sirupsen/logrus", "v1.9.3"],
  ["github.com/google/uuid", "v1.6.0"],
  ["golang.org/x/tools", "v0.24.0"],
] as const;
const MAIN = `package main

import (
	"fmt"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"golang.org/x/tools/go/packages"
)

func main() {
	fmt.Println(gin.Version, uuid.NewString(), logrus.InfoLevel, cobra.Command{}, viper.New(), packages.NeedName)
}
`;

const root = mkdtempSync(join(tmpdir(), "gcp-bench-modproxy-"));
const dir = (name: string) => { const d = join(root, name); mkdirSync(d, { recursive: true }); return d; };
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };

async function go(args: string[], cwd: string, env: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn([goBinary(), ...args], { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: root, GOPATH: join(root, "gopath"), GOCACHE: join(root, "gocache"), GOTOOLCHAIN: "local", GOTELEMETRY: "off", GOFLAGS: "-mod=mod", ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`go ${args.join(" ")} failed (${code}):\n${out}\n${err}`);
  return performance.now() - t0;
}

/** Removes a module cache (its directories are read-only). */
async function removeModCache(d: string): Promise<void> {
  await Bun.$`chmod -R u+w ${d}`.quiet().nothrow();
  rmSync(d, { recursive: true, force: true });
}

const port = await freePort();
const http = await freePort();
const server = Bun.spawn([binary(), "serve", "--plugin", String(port), "--http", `127.0.0.1:${http}`, "--cache-dir", dir("serve"), "--modproxy"], { stdout: "ignore", stderr: "pipe" });
void new Response(server.stderr).text();
try {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`http://127.0.0.1:${http}/healthz`)).ok) break; } catch { /* starting */ }
    if (i > 100) throw new Error("serve did not start");
    await Bun.sleep(50);
  }
  const ours = `http://127.0.0.1:${http}/mod`;
  const mod = dir("module");
  writeFileSync(join(mod, "go.mod"), `module example.com/benchmodproxy\n\ngo 1.23\n\nrequire (\n${REQUIRES.map(([m, v]) => `\t${m} ${v}\n`).join("")})\n`);
  writeFileSync(join(mod, "main.go"), MAIN);

  // Warm-up (untimed): resolve the graph and download everything through our proxy, checksums via our sumdb proxy.
  const warmCache = dir("warm-modcache");
  const t0 = performance.now();
  await go(["mod", "tidy"], mod, { GOPROXY: ours, GOMODCACHE: warmCache });
  await go(["mod", "download"], mod, { GOPROXY: ours, GOMODCACHE: warmCache });
  console.log(`warm-up through the proxy (cold, from proxy.golang.org): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const fileProxy = join(root, "fileproxy");
  cpSync(join(warmCache, "cache", "download"), fileProxy, { recursive: true });
  await removeModCache(warmCache);

  const counter = async (name: string) => Number(new RegExp(`^gocache_modproxy_${name}_total (\\d+)`, "m").exec(await (await fetch(`http://127.0.0.1:${http}/metrics`)).text())?.[1] ?? NaN);
  const fetchesBefore = await counter("upstream_fetches");
  const timed = { proxy: [] as number[], file: [] as number[] };
  const variants = [["proxy", ours], ["file", `file://${fileProxy}`]] as const;
  for (let i = 0; i < RUNS; i++) {
    for (const [name, goproxy] of i % 2 ? [...variants].reverse() : variants) {
      const cache = dir(`modcache-${name}-${i}`);
      timed[name].push(await go(["mod", "download"], mod, { GOPROXY: goproxy, GOSUMDB: "off", GOMODCACHE: cache }));
      await removeModCache(cache);
    }
  }
  const p = median(timed.proxy), f = median(timed.file);
  console.log(`go mod download, fresh GOMODCACHE, ${REQUIRES.length} direct requirements, ${RUNS} runs each`);
  console.log(`  our proxy (warm):  median ${p.toFixed(0)} ms   runs ${timed.proxy.map((x) => x.toFixed(0)).join(", ")}`);
  console.log(`  GOPROXY=file://:   median ${f.toFixed(0)} ms   runs ${timed.file.map((x) => x.toFixed(0)).join(", ")}`);
  console.log(`  ratio proxy/file:  ${(p / f).toFixed(2)}x (target <= 1.5x)`);
  const during = (await counter("upstream_fetches")) - fetchesBefore;
  console.log(`  proxy: ${await counter("requests")} requests in all, ${fetchesBefore} upstream fetches during warm-up, ${during} during the timed runs, ${((await counter("bytes_served")) / 1e6).toFixed(1)} MB served`);
} finally {
  server.kill("SIGTERM");
  await server.exited;
  await removeModCache(root);
}
