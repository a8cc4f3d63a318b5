/**
 * Runs the real go command in an isolated environment: its own GOCACHE,
 * GOMODCACHE and GOPATH, no network, no toolchain switching.
 *
 * The e2e tests run with the machine's go and with each extra toolchain that
 * `scripts/install-go-toolchains.sh` installs into `<repo>/.tools/go/<version>/`
 * (see goToolchains()).
 */
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT, tempDir } from "./paths.ts";

/** Path of the go command; with CI=true a missing go is a failure with a clear message. */
export function goBinary(): string {
  const found = Bun.which("go") ?? (existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : undefined);
  if (!found) throw new Error("the go command was not found on PATH or in /usr/local/go/bin: install Go 1.24 or later to run these tests");
  return found;
}

/**
 * Extra toolchains the e2e tests run with beside the machine's go; keep in step
 * with GO_TOOLCHAINS in scripts/install-go-toolchains.sh.
 */
export const EXTRA_GO_TOOLCHAINS = ["go1.27.3"] as const;

/** A go command to run the tests with. */
export interface GoToolchain {
  /** Its Go version (`go env GOVERSION`), e.g. "go1.26.8", "go1.27.3"; used in test names. */
  name: string;
  /** Path of its go command. */
  bin: string;
  /** True for the machine's go (goBinary()); false for a toolchain from .tools/go. */
  system: boolean;
  /** Variables set on every run, after the caller's: its own GOROOT, no toolchain switching. */
  env: Record<string, string>;
}

/** Where scripts/install-go-toolchains.sh installs `version` (a GOROOT). */
export function toolchainRoot(version: string): string {
  return join(ROOT, ".tools", "go", version);
}

function versionOf(bin: string, env: Record<string, string> = {}): string {
  const r = Bun.spawnSync([bin, "env", "GOVERSION"], { env: { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "", ...env }, stdout: "pipe", stderr: "pipe" });
  const v = r.stdout.toString().trim();
  if (r.exitCode !== 0 || !v.startsWith("go")) throw new Error(`${bin} env GOVERSION failed (${r.exitCode}): ${r.stderr.toString()}`);
  return v;
}

let toolchains: GoToolchain[] | undefined;

/**
 * The machine's go first, then every EXTRA_GO_TOOLCHAINS entry. An extra toolchain
 * that is not installed is still listed (under its version name): running it with
 * runGo() fails with a message saying to run scripts/install-go-toolchains.sh, so a
 * missing toolchain is a failing test, never a skipped one (with CI=true or not).
 */
export function goToolchains(): GoToolchain[] {
  if (toolchains) return toolchains;
  const system = goBinary();
  toolchains = [{ name: versionOf(system), bin: system, system: true, env: { GOTOOLCHAIN: "local" } }];
  for (const version of EXTRA_GO_TOOLCHAINS) {
    const root = toolchainRoot(version);
    // GOROOT from its location: a GOROOT inherited from the environment would be the machine's.
    toolchains.push({ name: version, bin: join(root, "bin", "go"), system: false, env: { GOROOT: root, GOTOOLCHAIN: "local" } });
  }
  return toolchains;
}

/** Throws a clear error when `tc`'s go command is missing. */
export function requireToolchain(tc: GoToolchain): void {
  if (tc.system || existsSync(tc.bin)) return;
  throw new Error(
    `Go toolchain ${tc.name} is not installed (${tc.bin} is missing): run 'bash scripts/install-go-toolchains.sh' ` +
      `(npm test does it; it fetches golang.org/toolchain from the Go module proxy into .tools/go/)`,
  );
}

export interface GoEnv {
  /** Extra variables, e.g. GOCACHEPROG. */
  env?: Record<string, string>;
  cwd: string;
  /**
   * Return when the go command exits, not when every holder of its output
   * is done: stderr of a GOCACHEPROG that keeps uploading after close is
   * not waited for (as on a terminal or a CI log).
   */
  untilExit?: boolean;
  /** Which go command to run (default: the machine's, goBinary()). */
  toolchain?: GoToolchain;
}

/** A go environment with private caches; reuse it across runs to share GOCACHE/GOMODCACHE. */
export function isolatedGoEnv(): Record<string, string> {
  const home = tempDir("gohome");
  return {
    HOME: home,
    GOCACHE: join(home, "gocache"),
    GOMODCACHE: join(home, "gomodcache"),
    GOPATH: join(home, "gopath"),
    GOFLAGS: "-mod=mod",
    GOPROXY: "off",
    GOTOOLCHAIN: "local",
    GOTELEMETRY: "off",
    CGO_ENABLED: "0",
  };
}

export interface GoResult { exitCode: number; stdout: string; stderr: string }

export async function runGo(args: string[], opts: GoEnv): Promise<GoResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("GOCACHE_") && k !== "GOCACHEPROG") env[k] = v;
  const tc = opts.toolchain;
  if (tc) requireToolchain(tc);
  const bin = tc ? tc.bin : goBinary();
  const spawnEnv = { ...env, ...opts.env, ...tc?.env };
  if (opts.untilExit) {
    // Output to files: a GOCACHEPROG still running after the go command exits holds them open, not us.
    const dir = tempDir("goout");
    const out = join(dir, "stdout"), err = join(dir, "stderr");
    const proc = Bun.spawn([bin, ...args], { cwd: opts.cwd, env: spawnEnv, stdout: Bun.file(out), stderr: Bun.file(err) });
    const exitCode = await proc.exited;
    return { exitCode, stdout: readFileSync(out, "utf8"), stderr: readFileSync(err, "utf8") };
  }
  const proc = Bun.spawn([bin, ...args], { cwd: opts.cwd, env: spawnEnv, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout, stderr };
}

/** Writes a module: `files` maps relative paths to contents; go.mod is added when absent. */
export function writeModule(files: Record<string, string>, modulePath = "example.com/m"): string {
  const dir = tempDir("mod");
  const all = { "go.mod": `module ${modulePath}\n\ngo 1.22\n`, ...files };
  for (const [rel, text] of Object.entries(all)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    // The go command does not index (and cache) packages whose files changed in the last few
    // seconds; back-date them so the first build caches what a later one asks for.
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(p, old, old);
  }
  return dir;
}

/** A module of library packages only: a warm build of it asks only for hits. */
export function libraryModule(tag = "v1"): string {
  return writeModule({
    "lib/lib.go": `package lib\n\nimport "strings"\n\n// Shout upper-cases s (${tag}).\nfunc Shout(s string) string { return strings.ToUpper(s) + "!" }\n`,
    "lib/inner/inner.go": `package inner\n\nimport (\n\t"fmt"\n\n\t"example.com/m/lib"\n)\n\nfunc Twice(s string) string { return fmt.Sprint(lib.Shout(s), lib.Shout(s)) }\n`,
  });
}

/**
 * A small module: a library with a test and a main package. Note that for a
 * main package the go command itself misses and re-puts one empty marker
 * entry on every build (its native GOCACHE does the same), so warm runs of
 * this module are checked for "nothing compiled" (no put bytes), not "no puts".
 */
export function sampleModule(tag = "v1"): string {
  return writeModule({
    "lib/lib.go": `package lib\n\nimport "strings"\n\n// Shout upper-cases s (${tag}).\nfunc Shout(s string) string { return strings.ToUpper(s) + "!" }\n`,
    "lib/lib_test.go": `package lib\n\nimport "testing"\n\nfunc TestShout(t *testing.T) {\n\tif got := Shout("hi"); got != "HI!" {\n\t\tt.Fatalf("got %q", got)\n\t}\n}\n`,
    "cmd/hello/main.go": `package main\n\nimport (\n\t"fmt"\n\n\t"example.com/m/lib"\n)\n\nfunc main() { fmt.Println(lib.Shout("hello ${tag}")) }\n`,
  });
}

/** Fails the test with the go command's output when it did not succeed. */
export function expectOk(r: GoResult): void {
  if (r.exitCode !== 0) throw new Error(`go failed (${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
}

/** The action IDs a plugin run with `--debug 1` answered with a miss. */
export function missedActions(stderr: string): string[] {
  return [...stderr.matchAll(/get ([0-9a-f]{64}): miss/g)].map((m) => m[1]!);
}

/** Parses the plugin's `metrics:` summary line from stderr into numbers. */
export function parseMetrics(stderr: string): Record<string, number> {
  const lines = stderr.split("\n").filter((l) => l.includes("metrics: "));
  const out: Record<string, number> = {};
  for (const l of lines) {
    for (const m of l.matchAll(/(\w+)=([\d.]+)/g)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}
