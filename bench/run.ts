/**
 * On-demand benchmarks of dist/go-cache-plugin (never run in CI).
 *
 *   bun run bench/run.ts [--quick] [--only=std,deps,startup,puts,rss,gets]
 *                        [--cold-runs=N] [--warm-runs=N] [--startup-runs=N] [--scale=1000,100000,1000000]
 *                        [--binary=PATH] [--wait-idle[=SECONDS]] [--write]
 *
 * Sections: std (go build std, native GOCACHE vs plugin), deps (a module with
 * third-party dependencies, needs the Go module proxy), startup (spawn to
 * capability line), puts (put throughput over a pipe), rss (peak RSS around a
 * 100 MiB put), gets (get round trip, a diagnostic). Each section prints its
 * table when done; the end prints one summary table. A full run (no --quick,
 * no --only) also writes bench/RESULTS.md; --write forces that.
 * --wait-idle waits (default up to 600 s) before each section until other
 * processes use under 15% of the CPUs, since other work on a 2-core machine
 * moves every number here; each section logs how busy the machine was.
 */
import { copyFileSync, chmodSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { benchBuild } from "./gobuild.ts";
import { prepareDepsModule } from "./deps.ts";
import { cleanup, cpuBusy, goBinary, goEnv, run, tempDir } from "./lib.ts";
import { benchGets, benchPuts, benchRss } from "./protocol.ts";
import { benchStartup } from "./startup.ts";
import { benchScale } from "./scale.ts";
import { summaryTable, type SectionResult, type SummaryRow } from "./table.ts";

const SECTIONS = ["std", "deps", "startup", "puts", "rss", "gets", "scale"] as const;
type Section = (typeof SECTIONS)[number];

const TARGETS = { warmRatio: 1.1, floorRatio: 1.05, serveRatio: 1.05, startupMs: 4, putMBps: 400, rssMB: 100 };

interface Options {
  quick: boolean;
  only?: Set<Section>;
  coldRuns: number;
  warmRuns: number;
  startupRuns: number;
  binary: string;
  write: boolean;
  /** Seconds to wait for an idle machine before each section (0: don't). */
  waitIdle: number;
  /** Cache sizes (synthetic entries) of the scale section. */
  scale: number[];
}

function parseArgs(argv: string[]): Options {
  const get = (name: string): string | undefined => {
    for (let i = 0; i < argv.length; i++) {
      if (argv[i] === `--${name}`) return argv[i + 1];
      if (argv[i]!.startsWith(`--${name}=`)) return argv[i]!.slice(name.length + 3);
    }
    return undefined;
  };
  const int = (name: string, dflt: number) => {
    const v = get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} wants a positive integer, got ${v}`);
    return n;
  };
  const known = new Set(["--quick", "--write", "--only", "--cold-runs", "--warm-runs", "--startup-runs", "--binary", "--wait-idle", "--scale"]);
  const bare = ["--quick", "--write", "--wait-idle"];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.split("=")[0]!;
    if (!known.has(name)) throw new Error(`unknown argument ${a}`);
    if (!a.includes("=") && !bare.includes(a)) i++;
  }
  const waitArg = argv.find((a) => a === "--wait-idle" || a.startsWith("--wait-idle="));
  const waitIdle = waitArg === undefined ? 0 : waitArg.includes("=") ? Number(waitArg.split("=")[1]) : 600;
  if (!Number.isFinite(waitIdle) || waitIdle < 0) throw new Error(`--wait-idle wants seconds, got ${waitArg}`);
  const quick = argv.includes("--quick");
  const onlyArg = get("only");
  let only: Set<Section> | undefined;
  if (onlyArg) {
    only = new Set();
    for (const s of onlyArg.split(",").map((x) => x.trim()).filter(Boolean)) {
      if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section ${s}; sections: ${SECTIONS.join(", ")}`);
      only.add(s as Section);
    }
  }
  const root = resolve(import.meta.dir, "..");
  return {
    quick,
    only,
    coldRuns: int("cold-runs", 1),
    warmRuns: int("warm-runs", quick ? 3 : 11),
    startupRuns: int("startup-runs", quick ? 15 : 40),
    binary: resolve(get("binary") ?? join(root, "dist", "go-cache-plugin")),
    write: argv.includes("--write") || (!quick && !only),
    waitIdle,
    scale: (get("scale") ?? (quick ? "1000,10000" : "1000,100000,1000000")).split(",").map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--scale wants sizes like 1000,100000, got ${x}`);
      return n;
    }),
  };
}

function wanted(o: Options, s: Section): boolean {
  if (o.only) return o.only.has(s);
  return !(o.quick && s === "deps");
}

async function machine(go: string, binary: string): Promise<string[]> {
  const goVersion = (await run([go, "version"])).stdout.trim();
  const root = resolve(import.meta.dir, "..");
  const head = (await run(["git", "-C", root, "rev-parse", "--short", "HEAD"])).stdout.trim();
  const dirty = (await run(["git", "-C", root, "status", "--porcelain", "--", "src"])).stdout.trim() ? " (src/ has uncommitted changes)" : "";
  const st = statSync(binary);
  return [
    `- machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${process.platform}/${process.arch}`,
    `- ${goVersion}; Bun ${Bun.version}`,
    `- binary: ${binary} (${(st.size / 1e6).toFixed(1)} MB, built ${st.mtime.toISOString()}), repo HEAD ${head}${dirty}`,
  ];
}

/** Waits until other processes use under 15% of the CPUs (or `seconds` pass). */
async function waitIdle(seconds: number, log: (l: string) => void): Promise<void> {
  const until = Date.now() + seconds * 1000;
  let said = false;
  for (let busy = await cpuBusy(); busy > 0.15 && Date.now() < until; busy = await cpuBusy(3000)) {
    if (!said) log(`  waiting for an idle machine (CPUs ${(busy * 100).toFixed(0)}% busy; up to ${seconds} s)`);
    said = true;
  }
}

/** Quietly waits until other processes use under 15% of the CPUs over `windowMs` (or `seconds` pass). */
async function waitQuiet(seconds: number, windowMs: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while ((await cpuBusy(windowMs)) > 0.15 && Date.now() < until) await Bun.sleep(1000);
}

/** Builds bench/refprog (the minimal Go helper used as a floor); undefined when it cannot. */
async function buildRefprog(go: string, log: (l: string) => void): Promise<string | undefined> {
  const out = join(tempDir("refprog-bin"), "refprog");
  const r = await run([go, "build", "-o", out, "."], { cwd: join(import.meta.dir, "refprog"), env: goEnv(tempDir("refprog-home")) });
  if (r.code === 0) return out;
  log(`(bench/refprog did not build, leaving the minimal-helper reference out: ${r.stderr.trim().slice(0, 300)})`);
  return undefined;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const log = (l: string) => console.log(l);
  const go = goBinary();
  try {
    statSync(o.binary);
  } catch {
    console.error(`bench: ${o.binary} not found; build it first: node_modules/.bin/bun run build.ts`);
    return 2;
  }
  // Snapshot the binary: a concurrent `bun run build.ts` replaces dist/ mid-run.
  const plugin = join(tempDir("bin"), "go-cache-plugin");
  copyFileSync(o.binary, plugin);
  chmodSync(plugin, 0o755);

  const refprog = wanted(o, "std") || wanted(o, "deps") || wanted(o, "gets") ? await buildRefprog(go, log) : undefined;

  const started = new Date();
  const load0 = loadavg();
  const header = await machine(go, o.binary);
  const mode = o.quick ? "quick" : "full";
  log(`# go-cache-plugin benchmarks (${mode}${o.only ? `, only ${[...o.only].join(",")}` : ""})\n`);
  for (const l of header) log(l);
  log(`- load average at start: ${load0.map((x) => x.toFixed(2)).join(" ")}\n`);

  // With --wait-idle, each cold run and warm round also waits (up to 60 s) for other work to stop.
  const gate = o.waitIdle > 0 ? () => waitQuiet(60, 500) : undefined;
  const results: SectionResult[] = [];
  const failures: string[] = [];
  const busy: string[] = [];
  const section = async (name: Section, title: string, fn: () => Promise<SectionResult>) => {
    if (!wanted(o, name)) return;
    log(`## ${title}\n`);
    if (o.waitIdle > 0) await waitIdle(o.waitIdle, log);
    const load = loadavg()[0]!;
    const cpu = await cpuBusy();
    log(`  before the section: CPUs ${(cpu * 100).toFixed(0)}% busy with other work, load average ${load.toFixed(2)}`);
    if (cpu > 0.15) busy.push(`${name} (CPUs ${(cpu * 100).toFixed(0)}% busy before it)`);
    const t0 = performance.now();
    try {
      const r = await fn();
      if (r.disturbed) busy.push(`${name} (other work during ${r.disturbed})`);
      r.notes.push(`${name}: before it the CPUs were ${(cpu * 100).toFixed(0)}% busy with other work; load average ${load.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`);
      results.push(r);
      log(`\n${r.table}\n`);
      for (const n of r.notes) log(`- ${n}`);
      log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
    } catch (err) {
      const msg = `${name}: failed: ${(err as Error).message}`;
      failures.push(msg);
      log(`\n${msg}\n`);
    }
  };

  await section("std", "1. go build std: native GOCACHE vs plugin", async () => {
    const home = tempDir("std-home");
    const env = goEnv(home);
    const goroot = (await run([go, "env", "GOROOT"], { env })).stdout.trim();
    // Read GOROOT once so the first cold build does not pay for the disk alone.
    await run(["sh", "-c", `find '${goroot}/src' '${goroot}/pkg' -type f -size -8M -print0 | xargs -0 cat > /dev/null`]);
    return benchBuild({
      label: "go build std", go, plugin, cwd: tempDir("std-cwd"), args: ["build", "std"], env,
      coldRuns: o.coldRuns, warmRuns: Math.max(o.warmRuns, o.quick ? 1 : 11), warmTarget: TARGETS.warmRatio, floorTarget: TARGETS.floorRatio, serveTarget: TARGETS.serveRatio, serve: true, log, refprog, gate,
    });
  });

  await section("deps", "2. go build ./... of a module with third-party dependencies", async () => {
    const home = tempDir("deps-home");
    const env = goEnv(home);
    const mod = join(tempDir("deps-mod"), "m");
    const skip = await prepareDepsModule(go, mod, env);
    if (skip) {
      log(`skipped: ${skip}`);
      return { title: "third-party module", table: `skipped: ${skip}`, notes: [`deps: skipped: ${skip}`], rows: [{ measure: "go build ./... (third-party deps)", value: "skipped", reference: "", ratio: "", target: "", met: undefined }] };
    }
    return benchBuild({
      label: "go build ./... (deps)", go, plugin, cwd: mod, args: ["build", "./..."], env,
      coldRuns: o.coldRuns, warmRuns: Math.max(o.warmRuns, o.quick ? 1 : 11), warmTarget: TARGETS.warmRatio, floorTarget: TARGETS.floorRatio, serveTarget: TARGETS.serveRatio, serve: true, log, refprog, gate,
    });
  });

  await section("startup", "3. plugin start-up latency", () => benchStartup(plugin, o.startupRuns, TARGETS.startupMs, log));

  await section("puts", "4. put throughput over a pipe", () =>
    benchPuts(plugin, {
      smallCount: o.quick ? 5000 : 20000, smallSize: 1024,
      largeCount: o.quick ? 3 : 10, largeSize: 20 << 20,
      runs: o.quick ? 1 : 5, targetMBps: TARGETS.putMBps,
    }, log));

  await section("rss", "5. peak RSS during a 100 MiB put", () => benchRss(plugin, 100 << 20, TARGETS.rssMB));

  await section("gets", "6. get round trip (diagnostic)", () => benchGets(plugin, o.quick ? 300 : 2000, refprog));

  await section("scale", "7. cache size: start-up, get latency and a warm build at 1k to 1M entries", () =>
    benchScale({ plugin, go, env: goEnv(tempDir("scale-home")), sizes: o.scale, warmRuns: o.quick ? 3 : 7, log }));

  const rows: SummaryRow[] = results.flatMap((r) => r.rows);
  for (const f of failures) rows.push({ measure: f.slice(0, 120), value: "failed", reference: "", ratio: "", target: "" });
  const final = summaryTable(rows);
  const load1 = loadavg();
  log(`## Summary\n\n${final}\n`);
  if (busy.length > 0) log(`WARNING: the machine was busy (${busy.join("; ")}): numbers are noisy; consider --wait-idle\n`);
  log(`load average at end: ${load1.map((x) => x.toFixed(2)).join(" ")}; total ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s`);

  if (o.write) {
    const md = [
      `# Benchmark results`,
      ``,
      `Written by \`bun run bench/run.ts${process.argv.slice(2).length ? " " + process.argv.slice(2).join(" ") : ""}\` (${mode} run) on ${started.toISOString()}.`,
      ``,
      ...header,
      `- load average at start ${load0.map((x) => x.toFixed(2)).join(" ")}, at end ${load1.map((x) => x.toFixed(2)).join(" ")}; other processes may have been running, so treat the numbers as noisy`,
      `- ratio = value / reference; go build times are medians of spawn-to-exit of the go command; MB = 10^6 bytes`,
      `- cold rows are ${o.coldRuns} run(s) each (\`--cold-runs N\` for more) and the most exposed to other load; "minimal Go helper" is bench/refprog, a bare GOCACHEPROG in Go serving the plugin's store, i.e. what the protocol costs with no plugin overhead`,
      ...(busy.length > 0 ? [`- **the machine was busy** during: ${busy.join("; ")}`] : []),
      ``,
      final,
      ``,
      `## Notes`,
      ``,
      ...results.flatMap((r) => r.notes.map((n) => `- ${n}`)),
      ...failures.map((f) => `- ${f}`),
      ``,
    ].join("\n");
    const out = join(import.meta.dir, "RESULTS.md");
    writeFileSync(out, md);
    log(`wrote ${out}`);
  } else {
    log(`(bench/RESULTS.md not written: ${mode} run${o.only ? " with --only" : ""}; pass --write to write it)`);
  }
  return failures.length > 0 ? 1 : 0;
}

let cleaned = false;
const finish = () => {
  if (cleaned) return;
  cleaned = true;
  cleanup();
};
process.on("SIGINT", () => {
  finish();
  process.exit(130);
});
process.on("SIGTERM", () => {
  finish();
  process.exit(143);
});

main().then(
  (code) => {
    finish();
    process.exit(code);
  },
  (err) => {
    finish();
    console.error(`bench: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
