/**
 * Two builds of the plugin side by side, in one interleaved run: warm
 * `go build std` through each (both serving one cache directory, which both
 * understand), beside native GOCACHE and bench/refprog (the protocol's
 * floor). With --serve also through `serve --plugin` + `connect` of each
 * (one server per build on the same cache directory); with --cold also a
 * cold build through B with and without --fsync.
 *
 *   bun run bench/ab.ts --a=/path/to/old/go-cache-plugin [--b=dist/go-cache-plugin] [--runs=11] [--serve] [--cold]
 *
 * Prints medians and ratios; never run in CI.
 */
import { join, resolve } from "node:path";
import { cleanup, fmtMs, fmtRatio, goBinary, goEnv, median, run, runOk, tempDir } from "./lib.ts";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const a = arg("a");
if (!a) throw new Error("--a=BINARY is required (the build to compare against)");
const b = resolve(arg("b") ?? "dist/go-cache-plugin");
const runs = Number(arg("runs") ?? 11);
const go = goBinary();
const log = (s: string) => process.stderr.write(`${s}\n`);

try {
  const refprog = join(tempDir("refprog-bin"), "refprog");
  await runOk([go, "build", "-o", refprog, "."], { cwd: join(import.meta.dir, "refprog"), env: goEnv(tempDir("refprog-home")) });
  const home = tempDir("ab-home");
  const cacheDir = join(tempDir("ab-cache"), "c");
  const env = (prog?: string) => goEnv(home, { GOCACHE: join(tempDir("gocache"), "g"), ...(prog ? { GOCACHEPROG: prog } : {}) });
  const nativeCache = join(tempDir("native"), "g");
  const kinds: Record<string, () => Record<string, string>> = {
    native: () => goEnv(home, { GOCACHE: nativeCache }),
    refprog: () => env(`${refprog} ${cacheDir}`),
    A: () => env(`${a} --cache-dir ${cacheDir}`),
    B: () => env(`${b} --cache-dir ${cacheDir}`),
  };
  log("cold builds to fill the caches (native, then B)...");
  await runOk([go, "build", "std"], { env: kinds.native!() });
  const coldB = await runOk([go, "build", "std"], { env: kinds.B!() });
  const servers: Array<ReturnType<typeof Bun.spawn>> = [];
  if (process.argv.includes("--serve")) {
    for (const [name, bin] of [["A", a], ["B", b]] as const) {
      const port = 20000 + Math.floor(Math.random() * 20000);
      servers.push(Bun.spawn([bin, "serve", "--plugin", String(port), "--cache-dir", cacheDir], { stdout: "ignore", stderr: "ignore" }));
      await Bun.sleep(1000);
      kinds[`${name} connect`] = () => env(`${bin} connect ${port}`);
    }
  }
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
  const names = Object.keys(kinds);
  for (const k of names) await runOk([go, "build", "std"], { env: kinds[k]!() }); // untimed first warm run each
  for (let i = 0; i < runs; i++) {
    const order = [...names.slice(i % names.length), ...names.slice(0, i % names.length)];
    for (const k of order) times[k]!.push((await runOk([go, "build", "std"], { env: kinds[k]!() })).ms);
  }
  const m = Object.fromEntries(names.map((k) => [k, median(times[k]!)]));
  const out = [`warm go build std, median of ${runs} interleaved runs:`];
  for (const k of names) out.push(`  ${k.padEnd(10)} ${fmtMs(m[k]!).padStart(9)}  ${fmtRatio(m[k]! / m.native!)} native  ${fmtRatio(m[k]! / m.refprog!)} refprog`);
  out.push(`  B / A = ${fmtRatio(m.B! / m.A!)}`);
  if (servers.length) out.push(`  B connect / A connect = ${fmtRatio(m["B connect"]! / m["A connect"]!)}; B connect / B = ${fmtRatio(m["B connect"]! / m.B!)}`);
  for (const s of servers) s.kill("SIGTERM");
  if (process.argv.includes("--cold")) {
    const cold: Record<string, number> = { native: 0, B: coldB.ms, "B --fsync": 0 };
    cold.native = (await run([go, "build", "std"], { env: goEnv(home, { GOCACHE: join(tempDir("cn"), "g") }) })).ms;
    cold["B --fsync"] = (await runOk([go, "build", "std"], { env: env(`${b} --fsync --cache-dir ${join(tempDir("cf"), "c")}`) })).ms;
    out.push("cold go build std (one run each):");
    for (const [k, v] of Object.entries(cold)) out.push(`  ${k.padEnd(10)} ${fmtMs(v).padStart(9)}  ${fmtRatio(v / cold.native!)} native`);
    out.push(`  --fsync costs ${fmtRatio(cold["B --fsync"]! / cold.B!)} of a cold build without it`);
  }
  console.log(out.join("\n"));
} finally {
  cleanup();
}
