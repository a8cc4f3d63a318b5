/**
 * Sections 1 and 2: a real go build with the native GOCACHE against the same
 * build through the plugin (GOCACHEPROG), cold and warm.
 *
 * Every scenario gets its own directories: a cold run starts from a fresh
 * GOCACHE (native) or a fresh GOCACHE plus a fresh --cache-dir (plugin); the
 * warm runs reuse the last cold run's directories. Native and plugin runs
 * alternate, and swap order every round, so drift (other load, page cache,
 * thermal) hits both sides alike.
 *
 * With `refprog` (bench/refprog, a minimal GOCACHEPROG in Go) the warm runs
 * also time the same build through that helper, serving the plugin's own
 * store: the floor that the protocol round trips alone impose. With `serve`
 * they also time it through `serve --plugin` + `connect` on that store.
 */
import { join } from "node:path";
import { fmtMs, fmtRatio, median, parseMetrics, run, tempDir, type RunResult } from "./lib.ts";
import { markdownTable, type SectionResult, type SummaryRow } from "./table.ts";

export interface BuildBenchOptions {
  /** Short name used in row labels, e.g. "go build std". */
  label: string;
  go: string;
  plugin: string;
  cwd: string;
  args: string[];
  /** Base environment (see goEnv); GOCACHE and GOCACHEPROG are set per scenario. */
  env: Record<string, string>;
  coldRuns: number;
  warmRuns: number;
  /** Target for warm plugin / warm native. */
  warmTarget: number;
  /** Path of the built bench/refprog binary, or undefined to leave it out. */
  refprog?: string;
  /** Also time the warm build through `serve --plugin` + `connect` (same store). */
  serve?: boolean;
  /** Targets for warm plugin / warm refprog and warm connect / warm plugin. */
  floorTarget?: number;
  serveTarget?: number;
  /** Awaited before every cold run and warm round (e.g. to wait for an idle machine). */
  gate?: () => Promise<void>;
  log: (line: string) => void;
}

type Kind = "native" | "plugin" | "refprog" | "connect";

interface Scenario {
  kind: Kind;
  env: Record<string, string>;
  /** The plugin's --cache-dir (plugin scenarios). */
  cacheDir?: string;
}

function freshScenario(kind: "native" | "plugin", o: BuildBenchOptions): Scenario {
  const dir = tempDir(kind);
  const env: Record<string, string> = { ...o.env, GOCACHE: join(dir, "gocache") };
  const cacheDir = join(dir, "plugin-cache");
  if (kind === "plugin") env.GOCACHEPROG = `${o.plugin} --cache-dir ${cacheDir} --metrics`;
  return { kind, env, cacheDir };
}

/** The reference helper on the plugin scenario's store, with a GOCACHE of its own. */
function refScenario(plugin: Scenario, refprog: string): Scenario {
  const env = { ...plugin.env, GOCACHE: join(tempDir("refprog"), "gocache"), GOCACHEPROG: `${refprog} ${plugin.cacheDir}` };
  return { kind: "refprog", env };
}

/** A `serve --plugin` on the plugin scenario's store and the scenario that reaches it through `connect`. */
async function serveScenario(plugin: Scenario, o: BuildBenchOptions): Promise<{ scenario: Scenario; stop: () => Promise<void> }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = Bun.spawn([o.plugin, "serve", "--plugin", String(port), "--cache-dir", plugin.cacheDir!], { stdout: "ignore", stderr: "pipe" });
  const stderr = new Response(server.stderr).text();
  for (let i = 0; ; i++) {
    const probe = await run([o.plugin, "connect", String(port)], {});
    if (probe.code === 0) break; // it reached the server and ended cleanly (no requests on stdin)
    if (i === 50 || server.exitCode !== null) throw new Error(`serve --plugin ${port} did not start: ${(await stderr).slice(-2000)}`);
    await Bun.sleep(100);
  }
  const env = { ...plugin.env, GOCACHE: join(tempDir("connect"), "gocache"), GOCACHEPROG: `${o.plugin} connect ${port}` };
  return { scenario: { kind: "connect", env }, stop: async () => { server.kill("SIGTERM"); await server.exited; } };
}

async function build(s: Scenario, o: BuildBenchOptions): Promise<RunResult> {
  const r = await run([o.go, ...o.args], { cwd: o.cwd, env: s.env });
  if (r.code !== 0) throw new Error(`${s.kind} ${o.label} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
  return r;
}

const min = (xs: number[]) => Math.min(...xs);

export async function benchBuild(o: BuildBenchOptions): Promise<SectionResult & { perGetUs: number }> {
  const cold = { native: [] as number[], plugin: [] as number[] };
  const warm = { native: [] as number[], plugin: [] as number[], refprog: [] as number[], connect: [] as number[] };
  const warmGets: number[] = [];
  const warmPluginElapsed: number[] = [];
  let coldMetrics: Record<string, number> = {};
  const coldDisturbed: string[] = [];
  let warmDisturbed = 0;
  let warmMisses = 0;
  let warmPuts = 0;
  let last: Record<"native" | "plugin", Scenario> | undefined;

  for (let i = 0; i < o.coldRuns; i++) {
    const pair = { native: freshScenario("native", o), plugin: freshScenario("plugin", o) };
    const order: Array<"native" | "plugin"> = i % 2 === 0 ? ["native", "plugin"] : ["plugin", "native"];
    for (const kind of order) {
      await o.gate?.();
      const r = await build(pair[kind], o);
      cold[kind].push(r.ms);
      if (kind === "plugin") coldMetrics = parseMetrics(r.stderr);
      if (r.otherCpu > 0.1) coldDisturbed.push(`cold ${kind} #${i + 1} (${(r.otherCpu * 100).toFixed(0)}% of the CPUs busy with other work)`);
      o.log(`  cold ${kind} #${i + 1}: ${fmtMs(r.ms)} (other work: ${(r.otherCpu * 100).toFixed(0)}% of the CPUs)`);
    }
    last = pair;
  }
  const scen: Partial<Record<Kind, Scenario>> = { ...last! };
  if (o.refprog) scen.refprog = refScenario(last!.plugin, o.refprog);
  const served = o.serve ? await serveScenario(last!.plugin, o) : undefined;
  if (served) scen.connect = served.scenario;
  const kinds = Object.keys(scen) as Kind[];
  try {

  // One untimed warm run each: the first hit of every entry touches files the cold run just wrote.
  for (const kind of kinds) await build(scen[kind]!, o);

  for (let i = 0; i < o.warmRuns; i++) {
    const order = [...kinds.slice(i % kinds.length), ...kinds.slice(0, i % kinds.length)];
    await o.gate?.();
    for (const kind of order) {
      const r = await build(scen[kind]!, o);
      warm[kind].push(r.ms);
      // The plugin outlives go by a few ms and its CPU is not go's: allow for it.
      if (r.otherCpu > 0.25) warmDisturbed++;
      if (kind === "plugin") {
        const m = parseMetrics(r.stderr);
        warmGets.push(m.cache_gets ?? NaN);
        warmPluginElapsed.push((m.elapsed ?? NaN) * 1000);
        warmMisses += m.cache_misses ?? 0;
        warmPuts += m.cache_puts ?? 0;
      }
    }
  }
  } finally {
    await served?.stop();
  }
  o.log(`  warm native: ${warm.native.map(fmtMs).join(", ")}`);
  o.log(`  warm plugin: ${warm.plugin.map(fmtMs).join(", ")}`);
  if (o.refprog) o.log(`  warm refprog: ${warm.refprog.map(fmtMs).join(", ")}`);
  if (served) o.log(`  warm connect: ${warm.connect.map(fmtMs).join(", ")}`);

  const coldN = median(cold.native);
  const coldP = median(cold.plugin);
  const warmN = median(warm.native);
  const warmP = median(warm.plugin);
  const gets = median(warmGets);
  const perGetUs = ((warmP - warmN) * 1000) / gets;
  const warmRatio = warmP / warmN;
  const warmR = median(warm.refprog);
  const warmC = median(warm.connect);
  const refRows = [
    ...(o.refprog ? [["refprog warm (minimal Go helper)", `${warm.refprog.length}`, fmtMs(warmR), fmtMs(min(warm.refprog)), fmtMs(Math.max(...warm.refprog)), fmtRatio(warmR / warmN), fmtRatio(min(warm.refprog) / min(warm.native))]] : []),
    ...(served ? [["serve + connect warm", `${warm.connect.length}`, fmtMs(warmC), fmtMs(min(warm.connect)), fmtMs(Math.max(...warm.connect)), fmtRatio(warmC / warmN), fmtRatio(min(warm.connect) / min(warm.native))]] : []),
  ];

  const table = markdownTable(
    ["scenario", "runs", "median", "min", "max", "/native (median)", "/native (min)"],
    [
      ["native cold", `${cold.native.length}`, fmtMs(coldN), fmtMs(min(cold.native)), fmtMs(Math.max(...cold.native)), "", ""],
      ["plugin cold", `${cold.plugin.length}`, fmtMs(coldP), fmtMs(min(cold.plugin)), fmtMs(Math.max(...cold.plugin)), fmtRatio(coldP / coldN), fmtRatio(min(cold.plugin) / min(cold.native))],
      ["native warm", `${warm.native.length}`, fmtMs(warmN), fmtMs(min(warm.native)), fmtMs(Math.max(...warm.native)), "", ""],
      ["plugin warm", `${warm.plugin.length}`, fmtMs(warmP), fmtMs(min(warm.plugin)), fmtMs(Math.max(...warm.plugin)), fmtRatio(warmRatio), fmtRatio(min(warm.plugin) / min(warm.native))],
      ...refRows,
    ],
  );
  const notes = [
    `${o.label}: cold plugin metrics: gets=${coldMetrics.cache_gets} misses=${coldMetrics.cache_misses} puts=${coldMetrics.cache_puts} bytes_in=${coldMetrics.cache_bytes_in}`,
    `${o.label}: warm plugin: ${gets} gets per build; plugin's own elapsed (metrics, after its start-up) median ${fmtMs(median(warmPluginElapsed))}; ` +
      `(plugin warm - native warm) / gets = ${perGetUs.toFixed(0)} us per get`,
    `${o.label}: warm plugin runs had ${warmMisses} misses and ${warmPuts} puts in all (${warm.plugin.length} runs)`,
    `${o.label}: fastest warm runs (least disturbed by other load): native ${fmtMs(min(warm.native))}, plugin ${fmtMs(min(warm.plugin))} ` +
      `(${fmtRatio(min(warm.plugin) / min(warm.native))}, ${(((min(warm.plugin) - min(warm.native)) * 1000) / gets).toFixed(0)} us per get)` +
      (o.refprog ? `, minimal Go helper ${fmtMs(min(warm.refprog))} (${fmtRatio(min(warm.refprog) / min(warm.native))})` : ""),
  ];
  if (coldDisturbed.length > 0) notes.push(`${o.label}: other work during ${coldDisturbed.join(", ")}: the cold comparison is unreliable`);
  if (warmDisturbed > 0) notes.push(`${o.label}: ${warmDisturbed} of ${kinds.length * o.warmRuns} warm runs saw over 25% of the CPUs busy with other work`);
  if (o.refprog) {
    notes.push(
      `${o.label}: minimal Go helper (bench/refprog) warm ${fmtMs(warmR)} = ${fmtRatio(warmR / warmN)} native: ` +
        `(refprog - native) / gets = ${(((warmR - warmN) * 1000) / gets).toFixed(0)} us per get is the protocol's floor; ` +
        `(plugin - refprog) / gets = ${(((warmP - warmR) * 1000) / gets).toFixed(0)} us per get is the plugin's own share`,
    );
  }
  const rows: SummaryRow[] = [
    { measure: `${o.label}, cold (plugin vs native)`, value: fmtMs(coldP), reference: fmtMs(coldN), ratio: fmtRatio(coldP / coldN), target: "" },
    {
      measure: `${o.label}, warm, median of ${warm.plugin.length}`,
      value: fmtMs(warmP),
      reference: fmtMs(warmN),
      ratio: fmtRatio(warmRatio),
      target: `<= ${o.warmTarget.toFixed(2)}x`,
      met: warmRatio <= o.warmTarget,
    },
    { measure: `${o.label}, warm overhead per get`, value: `${perGetUs.toFixed(0)} us`, reference: `${gets} gets`, ratio: "", target: "" },
  ];
  if (o.refprog) {
    rows.push({
      measure: `${o.label}, warm, minimal Go helper (floor)`,
      value: fmtMs(warmR),
      reference: fmtMs(warmN),
      ratio: fmtRatio(warmR / warmN),
      target: "",
    });
    const floor = o.floorTarget;
    rows.push({ measure: `${o.label}, warm, plugin / minimal Go helper`, value: fmtMs(warmP), reference: `floor ${fmtMs(warmR)}`, ratio: fmtRatio(warmP / warmR), target: floor ? `<= ${floor.toFixed(2)}x` : "", met: floor ? warmP / warmR <= floor : undefined });
  }
  if (served) {
    const t = o.serveTarget;
    rows.push({ measure: `${o.label}, warm, serve + connect / direct mode`, value: fmtMs(warmC), reference: `direct ${fmtMs(warmP)}`, ratio: fmtRatio(warmC / warmP), target: t ? `<= ${t.toFixed(2)}x` : "", met: t ? warmC / warmP <= t : undefined });
  }
  const disturbed = [
    ...(coldDisturbed.length > 0 ? [`${o.label}: ${coldDisturbed.join(", ")}`] : []),
    ...(warmDisturbed > kinds.length * o.warmRuns * 0.25 ? [`${o.label}: ${warmDisturbed} warm runs`] : []),
  ].join("; ");
  return { title: o.label, table, rows, notes, perGetUs, disturbed: disturbed || undefined };
}
