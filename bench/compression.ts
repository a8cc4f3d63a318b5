/**
 * zstd vs raw in the bucket (on demand: `bun run bench/compression.ts [--quick] [--cold=N] [--fresh=N]`),
 * one interleaved run against the tests' versitygw:
 * - cold `go build std` into an empty bucket with --compression none and zstd,
 *   alternating (the uploads compete with the compiler for the CPU);
 * - fresh runners (empty cache dir) on each warm bucket behind a proxy adding
 *   25 ms per request and a shared link of 1 Gbit/s or 200 Mbit/s
 *   (test/support/latency-proxy.ts): time, bytes that crossed the link, and
 *   what the bucket holds.
 */
import { existsSync } from "node:fs";
import { startS3Server } from "../test/support/s3server.ts";
import { startLatencyProxy, type LatencyProxy } from "../test/support/latency-proxy.ts";
import { openBlobStore } from "../src/backends/open.ts";
import { churnRoot, cleanup, fmtMs, fmtRatio, goBinary, goEnv, median, parseMetrics, runOk, tempDir } from "./lib.ts";
import { markdownTable } from "./table.ts";

const BIN = new URL("../dist/go-cache-plugin", import.meta.url).pathname;
const quick = process.argv.includes("--quick");
const arg = (name: string) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? NaN);
/** Rounds: --cold=N and --fresh=N override the defaults (2 and 5; --quick: 1 and 2). */
const COLD = Number.isInteger(arg("cold")) && arg("cold") > 0 ? arg("cold") : quick ? 1 : 2;
const FRESH = Number.isInteger(arg("fresh")) && arg("fresh") > 0 ? arg("fresh") : quick ? 2 : 5;
if (!existsSync(BIN)) throw new Error(`${BIN} missing: run bun run build.ts first`);
const go = goBinary();
const home = tempDir("home");
const cwd = tempDir("cwd");
const modes = ["none", "zstd"] as const;
const links = [["1 Gbit/s", 1e9], ["200 Mbit/s", 200e6]] as const;

async function main(): Promise<void> {
  const s3 = await startS3Server({ parentDir: churnRoot });
  const creds = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  const proxies: LatencyProxy[] = links.map(([, bps]) => startLatencyProxy({ hostname: "127.0.0.1", port: s3.port }, 25, { bitsPerSecond: bps }));
  const plugin = (bucket: string, mode: string, endpoint = s3.endpoint) =>
    goEnv(home, { ...creds, GOCACHEPROG: [BIN, "--cache-dir", tempDir("cache"), "--metrics", "--compression", mode, "--bucket", bucket, "--s3-endpoint-url", endpoint, "--s3-path-style", "--region", "us-east-1"].join(" ") });
  const buildStd = (env: Record<string, string>) => runOk([go, "build", "std"], { cwd, env });
  const bucketBytes = async (bucket: string) => {
    const store = await openBlobStore({ backend: "s3", bucket, endpoint: s3.endpoint, pathStyle: true, region: "us-east-1" }, { env: creds });
    let n = 0;
    for await (const o of store.list("")) n += o.size;
    store.close();
    return n;
  };
  try {
    const cold: Record<string, number[]> = { none: [], zstd: [] };
    const warm: Record<string, string> = {};
    for (let i = 0; i < COLD; i++) {
      for (const mode of modes) {
        const bucket = `cold-${mode}-${i}`;
        await s3.createBucket(bucket);
        console.log(`cold build, --compression ${mode} (${i + 1}/${COLD}) ...`);
        Bun.spawnSync(["sync"]);
        const r = await buildStd(plugin(bucket, mode));
        cold[mode]!.push(r.ms);
        warm[mode] = bucket;
      }
    }
    const fresh: Record<string, number[]> = {};
    const moved: Record<string, number[]> = {};
    for (let i = 0; i < FRESH; i++) {
      console.log(`fresh runners, round ${i + 1} of ${FRESH} ...`);
      for (const [li, [label]] of links.entries()) {
        for (const mode of modes) {
          const key = `${mode} @ ${label}`;
          const proxy = proxies[li]!;
          const before = proxy.bytesDown;
          Bun.spawnSync(["sync"]);
          const r = await buildStd(plugin(warm[mode]!, mode, proxy.endpoint));
          if ((parseMetrics(r.stderr).cache_bytes_in ?? 0) > 0) console.log(`  note: ${key} compiled something`);
          (fresh[key] ??= []).push(r.ms);
          (moved[key] ??= []).push(proxy.bytesDown - before);
        }
      }
    }
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    const stored = { none: await bucketBytes(warm.none!), zstd: await bucketBytes(warm.zstd!) };
    const rows: string[][] = [
      ["cold build into an empty bucket", fmtMs(median(cold.none!)), fmtMs(median(cold.zstd!)), fmtRatio(median(cold.zstd!) / median(cold.none!)), "<= 1.03x"],
      ["bucket bytes after the cold build", mb(stored.none), mb(stored.zstd), fmtRatio(stored.zstd / stored.none), ""],
    ];
    for (const [label] of links) {
      const n = median(fresh[`none @ ${label}`]!), z = median(fresh[`zstd @ ${label}`]!);
      const bn = median(moved[`none @ ${label}`]!), bz = median(moved[`zstd @ ${label}`]!);
      rows.push([`fresh runner, 25 ms + ${label}`, fmtMs(n), fmtMs(z), `${(n / z).toFixed(2)}x faster`, label.startsWith("200") ? ">= 1.5x faster" : ""]);
      rows.push([`bytes moved, 25 ms + ${label}`, mb(bn), mb(bz), `${(bn / bz).toFixed(2)}x fewer`, ">= 2x fewer"]);
    }
    const table = markdownTable(["go build std", "--compression none", "--compression zstd", "ratio", "target"], rows);
    const runs = Object.entries(fresh).map(([k, v]) => `${k}: ${v.map(fmtMs).join(", ")}`).join("; ");
    const text = `${table}\n\nCold builds in run order: none ${cold.none!.map(fmtMs).join(", ")}; zstd ${cold.zstd!.map(fmtMs).join(", ")}. Fresh runners in run order: ${runs}.\n`;
    console.log(`\n${text}`);
    await Bun.write(new URL("./RESULTS-compression.md", import.meta.url), `# zstd vs raw in the bucket\n\nWritten by \`bun run bench/compression.ts${quick ? " --quick" : ""}\` on ${new Date().toISOString()} (${navigator.hardwareConcurrency} cores, Bun ${Bun.version}).\n\n${text}`);
  } finally {
    for (const p of proxies) p.stop();
    await s3.destroy();
    cleanup();
  }
}

await main();
