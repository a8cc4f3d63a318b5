/**
 * The fresh-runner row on every backend, side by side, in one interleaved
 * run (on demand: `bun run bench/backends.ts [--quick]`): `go build std`
 * cold through the plugin into an empty bucket on each backend's test server
 * (versitygw, fake-gcs-server, Azurite: test/support/backends.ts, loopback),
 * then rounds of one fresh runner (empty cache directory) per backend and
 * one native warm build. The servers are emulators, not the services: the
 * ratios compare our three backends' client paths and the emulators' speed,
 * not S3 with GCS with Azure.
 */
import { existsSync } from "node:fs";
import { BACKENDS, type BackendServer } from "../test/support/backends.ts";
import { cleanup, fmtMs, fmtRatio, goBinary, goEnv, median, parseMetrics, runOk, tempDir } from "./lib.ts";
import { markdownTable } from "./table.ts";

const BIN = new URL("../dist/go-cache-plugin", import.meta.url).pathname;
const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 2 : 5;
if (!existsSync(BIN)) throw new Error(`${BIN} missing: run bun run build.ts first`);
const go = goBinary();
const home = tempDir("home");
const cwd = tempDir("cwd");
const buildStd = (env: Record<string, string>) => runOk([go, "build", "std"], { cwd, env });

interface Row { label: string; server: BackendServer; bucket: string; cold: number; fresh: number[]; compiled: number[] }

async function main(): Promise<void> {
  const rows: Row[] = [];
  const plugin = (r: Row) => goEnv(home, { ...r.server.env(), GOCACHEPROG: [BIN, "--cache-dir", tempDir("fresh"), "--metrics", ...r.server.flags(r.bucket)].join(" ") });
  try {
    const nativeDir = tempDir("native");
    await buildStd(goEnv(home, { GOCACHE: nativeDir }));
    for (const [label, start] of BACKENDS) {
      const server = await start();
      const row: Row = { label, server, bucket: await server.createBucket("bench"), cold: 0, fresh: [], compiled: [] };
      console.log(`${label}: cold build into an empty bucket ...`);
      row.cold = (await buildStd(plugin(row))).ms;
      rows.push(row);
    }
    const native: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      console.log(`round ${i + 1} of ${ROUNDS} ...`);
      for (const r of rows) {
        Bun.spawnSync(["sync"]); // each fresh runner writes ~170 MB: let the last one's writes settle, for every run alike
        const out = await buildStd(plugin(r));
        r.fresh.push(out.ms);
        r.compiled.push(parseMetrics(out.stderr).cache_bytes_in ?? -1);
      }
      native.push((await buildStd(goEnv(home, { GOCACHE: nativeDir }))).ms);
    }
    const nw = median(native);
    const s3 = median(rows[0]!.fresh);
    const table = markdownTable(
      ["backend (loopback emulator)", "cold build into empty bucket", `fresh runner, median of ${ROUNDS}`, "vs native warm", "vs S3", "bytes compiled on fresh runners"],
      [
        ...rows.map((r) => [r.label, fmtMs(r.cold), fmtMs(median(r.fresh)), fmtRatio(median(r.fresh) / nw), fmtRatio(median(r.fresh) / s3), r.compiled.join(", ")]),
        ["native GOCACHE (warm)", "", fmtMs(nw), "1.00x", "", ""],
      ],
    );
    const runs = rows.map((r) => `${r.label}: ${r.fresh.map(fmtMs).join(", ")}`).join("; ");
    console.log(`\n${table}\n\nIn run order: ${runs}; native warm: ${native.map(fmtMs).join(", ")}.\n`);
    await Bun.write(new URL("./RESULTS-backends.md", import.meta.url), `# Fresh runners on every backend\n\nWritten by \`bun run bench/backends.ts${quick ? " --quick" : ""}\` on ${new Date().toISOString()} (${navigator.hardwareConcurrency} cores, Bun ${Bun.version}).\n\n${table}\n\nIn run order: ${runs}; native warm: ${native.map(fmtMs).join(", ")}.\n`);
  } finally {
    for (const r of rows) await r.server.destroy();
    cleanup();
  }
}

await main();
