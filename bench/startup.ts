/**
 * Section 3: time from spawn to the first stdout line (the capability
 * message), then close stdin and wait for the exit. The reference is a
 * compiled Bun hello world built with the same flags as the plugin, which is
 * the floor for any Bun executable.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LineReader, fmtRatio, median, quantile, runOk, tempDir } from "./lib.ts";
import { markdownTable, type SectionResult } from "./table.ts";

export async function buildHelloWorld(): Promise<string> {
  const dir = tempDir("hello");
  writeFileSync(join(dir, "hello.ts"), `console.log('{"ID":0,"KnownCommands":["close"]}');\n`);
  const out = join(dir, "hello");
  const noAutoload = ["--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--no-compile-autoload-tsconfig", "--no-compile-autoload-package-json"];
  await runOk([process.execPath, "build", "--compile", "--minify", "--bytecode", "--format=esm", ...noAutoload, join(dir, "hello.ts"), "--outfile", out], { cwd: dir });
  return out;
}

/** One spawn: milliseconds to the first line of stdout. */
export async function timeToFirstLine(cmd: string[]): Promise<number> {
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const stderr = new Response(proc.stderr).text();
  const lines = new LineReader(proc.stdout);
  const first = await lines.next();
  const ms = performance.now() - t0;
  proc.stdin.end();
  const [code, err] = await Promise.all([proc.exited, stderr, lines.drain()]);
  if (first === undefined || !first.startsWith('{"ID":0')) throw new Error(`${cmd[0]}: no capability line (exit ${code}): ${err}`);
  if (code !== 0) throw new Error(`${cmd[0]} exited ${code}: ${err}`);
  return ms;
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

export async function benchStartup(plugin: string, runs: number, target: number, log: (l: string) => void): Promise<SectionResult> {
  const hello = await buildHelloWorld();
  const cacheDir = tempDir("startup-cache");
  const pluginCmd = [plugin, "--cache-dir", cacheDir];
  for (let i = 0; i < 3; i++) {
    await timeToFirstLine(pluginCmd); // page cache and first-run effects
    await timeToFirstLine([hello]);
  }
  const p: number[] = [];
  const h: number[] = [];
  for (let i = 0; i < runs; i++) {
    p.push(await timeToFirstLine(pluginCmd));
    h.push(await timeToFirstLine([hello]));
  }
  const stats = (xs: number[]) => [fmt(median(xs)), fmt(quantile(xs, 0.1)), fmt(quantile(xs, 0.9))];
  const table = markdownTable(
    ["binary", "runs", "median", "p10", "p90"],
    [
      ["go-cache-plugin", `${runs}`, ...stats(p)],
      ["bun hello world (compiled)", `${runs}`, ...stats(h)],
    ],
  );
  const pm = median(p);
  const hm = median(h);
  log(`  plugin - hello world = ${(pm - hm).toFixed(1)} ms of the plugin's own start-up`);
  return {
    title: "plugin start-up",
    table,
    notes: [`start-up: plugin median ${fmt(pm)} (p10 ${fmt(quantile(p, 0.1))}, p90 ${fmt(quantile(p, 0.9))}); bun hello world median ${fmt(hm)} (p10 ${fmt(quantile(h, 0.1))}, p90 ${fmt(quantile(h, 0.9))})`],
    rows: [
      {
        measure: `start-up to capability line, median of ${runs} (p10 / p90)`,
        value: `${fmt(pm)} (${quantile(p, 0.1).toFixed(1)} / ${quantile(p, 0.9).toFixed(1)})`,
        reference: `bun hello ${fmt(hm)}`,
        ratio: fmtRatio(pm / hm),
        target: `<= ${target} ms`,
        met: pm <= target,
      },
    ],
  };
}
