/**
 * Runs the real go command in an isolated environment: its own GOCACHE,
 * GOMODCACHE and GOPATH, no network, no toolchain switching.
 */
import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tempDir } from "./paths.ts";

/** Path of the go command; with CI=true a missing go is a failure with a clear message. */
export function goBinary(): string {
  const found = Bun.which("go") ?? (existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : undefined);
  if (!found) throw new Error("the go command was not found on PATH or in /usr/local/go/bin: install Go 1.24 or later to run these tests");
  return found;
}

export interface GoEnv {
  /** Extra variables, e.g. GOCACHEPROG. */
  env?: Record<string, string>;
  cwd: string;
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
  const proc = Bun.spawn([goBinary(), ...args], { cwd: opts.cwd, env: { ...env, ...opts.env }, stdout: "pipe", stderr: "pipe" });
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

/** Parses the plugin's `metrics:` summary line from stderr into numbers. */
export function parseMetrics(stderr: string): Record<string, number> {
  const lines = stderr.split("\n").filter((l) => l.includes("metrics: "));
  const out: Record<string, number> = {};
  for (const l of lines) {
    for (const m of l.matchAll(/(\w+)=([\d.]+)/g)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}
