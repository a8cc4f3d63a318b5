/**
 * The real go command through the compiled binary, local-only mode, with every
 * toolchain of goToolchains() (the machine's go and .tools/go/go1.27.3). Each case
 * compiles part of the standard library cold (5-15 s on 2 cores), so the extra
 * toolchains run the representative cases; the parallel-builds case (a property
 * of the plugin's store, not of the go command) runs with the machine's go only.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { BINARY, binary, cleanupTempDirs, tempDir } from "../support/paths.ts";
import { expectOk, goToolchains, isolatedGoEnv, libraryModule, parseMetrics, runGo as runGoWith, sampleModule, toolchainRoot, type GoEnv, type GoToolchain } from "../support/go.ts";
import { checkStore } from "../support/store.ts";

afterAll(cleanupTempDirs);

function pluginEnv(cacheDir: string, extra = ""): Record<string, string> {
  binary();
  return { ...isolatedGoEnv(), GOCACHEPROG: `${BINARY} --cache-dir ${cacheDir} --metrics ${extra}`.trim() };
}


const toolchains = goToolchains();

test("the toolchains are distinct and the extra one really is go1.27.3", async () => {
  expect(toolchains.map((t) => t.name)).toEqual([toolchains[0]!.name, "go1.27.3"]);
  const [system, extra] = toolchains as [GoToolchain, GoToolchain];
  expect(system.system).toBe(true);
  expect(extra.bin).toBe(`${toolchainRoot("go1.27.3")}/bin/go`);
  const cwd = tempDir("cwd");
  const env = isolatedGoEnv(); // GOTOOLCHAIN=local
  const v = await runGoWith(["version"], { cwd, env, toolchain: extra });
  expect(v.exitCode).toBe(0);
  expect(v.stdout.trim()).toMatch(/^go version go1\.27\.3 [a-z0-9]+\/[a-z0-9]+$/);
  const goroot = await runGoWith(["env", "GOROOT", "GOTOOLCHAIN"], { cwd, env, toolchain: extra });
  expect(goroot.stdout.trim().split("\n")).toEqual([toolchainRoot("go1.27.3"), "local"]);
  const sys = await runGoWith(["version"], { cwd, env, toolchain: system });
  expect(sys.stdout).toContain(`go version ${system.name} `);
  expect(system.name).not.toBe("go1.27.3");
});

describe.each(toolchains)("go command through the plugin ($name)", (toolchain) => {
  const runGo = (args: string[], opts: GoEnv) => runGoWith(args, { ...opts, toolchain });

  test(`the go command of these cases is ${toolchain.name}`, async () => {
    const r = await runGo(["env", "GOVERSION"], { cwd: tempDir("cwd"), env: isolatedGoEnv() });
    expect(r.stdout.trim()).toBe(toolchain.name);
  });

  test("(a) go build cold then warm: the warm run is all hits and no puts", async () => {
    const mod = libraryModule("a");
    const cache = tempDir("cache");
    const env = pluginEnv(cache);
    const cold = await runGo(["build", "./..."], { cwd: mod, env });
    expectOk(cold);
    const c = parseMetrics(cold.stderr);
    expect(c.cache_puts).toBeGreaterThan(0);
    expect(c.cache_misses).toBeGreaterThan(0);
    // A fresh GOCACHE proves the hits come from the plugin, not from the go command's own directory.
    const warm = await runGo(["build", "./..."], { cwd: mod, env: { ...env, GOCACHE: tempDir("gocache") } });
    expectOk(warm);
    const w = parseMetrics(warm.stderr);
    expect(w.cache_gets).toBeGreaterThan(0);
    expect(w.cache_hits).toBe(w.cache_gets);
    expect(w.cache_misses).toBe(0);
    expect(w.cache_puts).toBe(0);
    expect(checkStore(cache).problems).toEqual([]);
  });

  test("(b) go test twice: the second run prints (cached)", async () => {
    const mod = sampleModule("b");
    const env = pluginEnv(tempDir("cache"));
    const first = await runGo(["test", "./lib"], { cwd: mod, env });
    expectOk(first);
    expect(first.stdout).not.toContain("(cached)");
    const second = await runGo(["test", "./lib"], { cwd: mod, env: { ...env, GOCACHE: tempDir("gocache") } });
    expectOk(second);
    expect(second.stdout).toMatch(/ok\s+example\.com\/m\/lib\s+\(cached\)/);
  });

  // Not defined (rather than skipped) for the extra toolchains: see the file comment.
  if (toolchain.system) {
    test("(c) two go builds in parallel on one cache directory both succeed and the store stays consistent", async () => {
      const cache = tempDir("cache");
      const mods = [sampleModule("c1"), sampleModule("c2")];
      const env = pluginEnv(cache);
      const runs = await Promise.all(mods.map((cwd) => runGo(["build", "-o", tempDir("out"), "./..."], { cwd, env })));
      for (const r of runs) expectOk(r);
      const check = checkStore(cache);
      expect(check.problems).toEqual([]);
      expect(check.actions).toBeGreaterThan(10);
      // And both builds are now warm.
      const again = await runGo(["build", "./..."], { cwd: mods[1]!, env: { ...env, GOCACHE: tempDir("gocache") } });
      expectOk(again);
      expect(parseMetrics(again.stderr).cache_bytes_in).toBe(0); // nothing compiled or linked
    });
  }

  test("(e) go run twice: the second runs the cached binary from DiskPath", async () => {
    const mod = sampleModule("e");
    const env = pluginEnv(tempDir("cache"));
    const first = await runGo(["run", "./cmd/hello"], { cwd: mod, env });
    expectOk(first);
    expect(first.stdout.trim()).toBe("HELLO E!");
    const second = await runGo(["run", "./cmd/hello"], { cwd: mod, env: { ...env, GOCACHE: tempDir("gocache") } });
    expectOk(second);
    expect(second.stdout.trim()).toBe("HELLO E!");
    const m = parseMetrics(second.stderr);
    expect(m.cache_hits).toBeGreaterThan(10);
    expect(m.cache_bytes_in).toBe(0); // the binary was not linked again: it ran from DiskPath
  });

  test("(f) go clean -testcache makes the next go test run the tests again", async () => {
    const mod = sampleModule("f");
    const env = pluginEnv(tempDir("cache"));
    expectOk(await runGo(["test", "./lib"], { cwd: mod, env }));
    const cached = await runGo(["test", "./lib"], { cwd: mod, env });
    expect(cached.stdout).toContain("(cached)");
    expectOk(await runGo(["clean", "-testcache"], { cwd: mod, env }));
    const rerun = await runGo(["test", "./lib"], { cwd: mod, env });
    expectOk(rerun);
    expect(rerun.stdout).toMatch(/ok\s+example\.com\/m\/lib/);
    expect(rerun.stdout).not.toContain("(cached)");
  });

  test("a bad flag in GOCACHEPROG fails the build with our usage message, not a stack trace", async () => {
    const mod = sampleModule("bad");
    const env = { ...isolatedGoEnv(), GOCACHEPROG: `${binary()} --no-such-flag` };
    const r = await runGo(["build", "./..."], { cwd: mod, env });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("unknown flag --no-such-flag");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
