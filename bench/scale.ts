/**
 * Section 7: how start-up, get latency and a warm build grow with the size
 * of the cache. One store holds a real `go build std` (one cold build) and is
 * then padded with synthetic entries (action records pointing at a few
 * hundred small objects, written straight into the layout) up to each size in
 * turn. At each size: spawn to capability line and to the first get's reply,
 * one-at-a-time get hits of synthetic entries, and warm `go build std`
 * through the plugin against native GOCACHE, interleaved.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LineReader, fmtMs, fmtRatio, median, quantile, run, tempDir } from "./lib.ts";
import { markdownTable, type SectionResult } from "./table.ts";

export interface ScaleOptions {
  plugin: string;
  go: string;
  env: Record<string, string>;
  sizes: number[];
  warmRuns: number;
  log: (line: string) => void;
}

const OBJECTS = 256;

/** Adds synthetic entries to the store until it holds `total` of them; returns some of their action IDs. */
function pad(cacheDir: string, from: number, total: number, sample: string[]): void {
  const root = join(cacheDir, "v1");
  const objects: Array<{ id: string; size: number }> = [];
  for (let i = 0; i < OBJECTS; i++) {
    const body = Buffer.from(`synthetic object ${i}\n`.repeat(1 + (i % 7)));
    const id = new Bun.CryptoHasher("sha256").update(body).digest("hex");
    mkdirSync(join(root, "o", id.slice(0, 2)), { recursive: true });
    writeFileSync(join(root, "o", id.slice(0, 2), id), body, { mode: 0o755 });
    objects.push({ id, size: body.length });
  }
  for (let i = 0; i < 256; i++) mkdirSync(join(root, "a", i.toString(16).padStart(2, "0")), { recursive: true });
  const nanos = `${Date.now()}000000`;
  for (let n = from; n < total; n++) {
    const action = randomBytes(32).toString("hex");
    const o = objects[n % OBJECTS]!;
    writeFileSync(join(root, "a", action.slice(0, 2), action), `${o.id} ${o.size} ${nanos}\n`);
    if (sample.length < 1000) sample.push(action);
    else if (Math.random() < 1000 / (n + 1)) sample[Math.floor(Math.random() * 1000)] = action;
  }
}

async function timeSession(plugin: string, cacheDir: string, actions: string[]): Promise<{ firstLine: number; firstReply: number; gets: number[] }> {
  const t0 = performance.now();
  const proc = Bun.spawn([plugin, "--cache-dir", cacheDir], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const lines = new LineReader(proc.stdout);
  await lines.next();
  const firstLine = performance.now() - t0;
  const gets: number[] = [];
  let firstReply = 0;
  for (let i = 0; i < actions.length; i++) {
    const t = performance.now();
    proc.stdin.write(`{"ID":${i + 1},"Command":"get","ActionID":"${Buffer.from(actions[i]!, "hex").toString("base64")}"}\n\n`);
    proc.stdin.flush();
    const reply = await lines.next();
    if (!reply?.includes('"DiskPath"')) throw new Error(`expected a hit for ${actions[i]}, got ${reply}`);
    if (i === 0) firstReply = performance.now() - t0;
    gets.push((performance.now() - t) * 1000);
  }
  proc.stdin.write(`{"ID":${actions.length + 1},"Command":"close"}\n\n`);
  proc.stdin.end();
  await Promise.all([lines.drain(), proc.exited]);
  return { firstLine, firstReply, gets };
}

export async function benchScale(o: ScaleOptions): Promise<SectionResult> {
  const cacheDir = join(tempDir("scale"), "c");
  const native = { ...o.env, GOCACHE: join(tempDir("scale-native"), "g") };
  const viaPlugin = { ...o.env, GOCACHE: join(tempDir("scale-gocache"), "g"), GOCACHEPROG: `${o.plugin} --cache-dir ${cacheDir}` };
  o.log("  cold go build std (native, then the plugin)...");
  for (const env of [native, viaPlugin]) {
    const r = await run([o.go, "build", "std"], { env, cwd: tempDir("scale-cwd") });
    if (r.code !== 0) throw new Error(`cold go build std failed: ${r.stderr.slice(-2000)}`);
  }
  const sample: string[] = [];
  const rows: string[][] = [];
  const ratios: number[] = [];
  let have = 0;
  for (const size of o.sizes) {
    const t = performance.now();
    pad(cacheDir, have, size, sample);
    have = size;
    o.log(`  ${size} synthetic entries (padding took ${fmtMs(performance.now() - t)})`);
    const sessions = [];
    for (let i = 0; i < 15; i++) sessions.push(await timeSession(o.plugin, cacheDir, i === 0 ? sample : sample.slice(0, 20)));
    const gets = sessions[0]!.gets;
    const warm = { native: [] as number[], plugin: [] as number[] };
    for (let i = 0; i < o.warmRuns; i++) {
      for (const [kind, env] of (i % 2 ? [["plugin", viaPlugin], ["native", native]] : [["native", native], ["plugin", viaPlugin]]) as Array<["native" | "plugin", Record<string, string>]>) {
        const r = await run([o.go, "build", "std"], { env, cwd: tempDir("scale-cwd") });
        if (r.code !== 0) throw new Error(`warm go build std failed: ${r.stderr.slice(-2000)}`);
        warm[kind].push(r.ms);
      }
    }
    const ratio = median(warm.plugin) / median(warm.native);
    ratios.push(ratio);
    rows.push([
      `${size}`,
      fmtMs(median(sessions.map((s) => s.firstLine))),
      fmtMs(median(sessions.map((s) => s.firstReply))),
      `${median(gets).toFixed(0)} us (p90 ${quantile(gets, 0.9).toFixed(0)})`,
      `${fmtMs(median(warm.plugin))} / ${fmtMs(median(warm.native))}`,
      fmtRatio(ratio),
    ]);
    o.log(`    ${rows.at(-1)!.join(" | ")}`);
  }
  const spread = Math.max(...ratios) / Math.min(...ratios);
  const table = markdownTable(["synthetic entries", "spawn to capability line", "spawn to first get reply", "get hit, one at a time", `warm go build std, plugin / native (median of ${o.warmRuns})`, "ratio"], rows);
  return {
    title: "cache size",
    table,
    notes: [`scale: warm go build std ratio from ${o.sizes[0]} to ${o.sizes.at(-1)} entries moves by ${((spread - 1) * 100).toFixed(1)}% (largest / smallest ratio)`],
    rows: [{ measure: `warm go build std ratio, ${o.sizes[0]} to ${o.sizes.at(-1)} entries (largest / smallest)`, value: ratios.map(fmtRatio).join(" / "), reference: "", ratio: fmtRatio(spread), target: "<= 1.03x", met: spread <= 1.03 }],
  };
}
