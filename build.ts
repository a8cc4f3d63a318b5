/**
 * Builds dist/go-cache-plugin, one self-contained executable for this machine;
 * with --release, one per platform into a release directory, plus SHA256SUMS:
 *
 *   bun run build.ts                                  dist/go-cache-plugin
 *   bun run build.ts --release                        dist-release/go-cache-plugin-<os>-<arch>[-musl][.exe] for every target
 *   bun run build.ts --release --target linux-arm64,darwin-arm64 --outdir DIR
 *
 * --bytecode with --format=esm and --splitting measured fastest to the
 * capability line (see README): code that direct mode does not need (the S3
 * SDK, the worker, serve) sits in chunks that are parsed only when imported.
 * Every target gets the same flags; a cross target's Bun runtime is fetched
 * once from the npm registry and cached by bun.
 *
 * Each binary carries its commit and target (BUILD_INFO, src/build-info.ts);
 * `go-cache-plugin version` prints them with the version and Bun's.
 */
import { $ } from "bun";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";

/** Release targets: `bun-<target>` is Bun's --target, `go-cache-plugin-<target>[.exe]` the file. */
const RELEASE_TARGETS = ["linux-x64", "linux-arm64", "linux-x64-musl", "linux-arm64-musl", "darwin-x64", "darwin-arm64", "windows-x64"];

const usage = "usage: bun run build.ts [--release [--target T1,T2,...] [--outdir DIR]]";
const argv = process.argv.slice(2);
let release = false;
let targets = RELEASE_TARGETS;
let outdir = "dist-release";
for (let i = 0; i < argv.length; i++) {
  const [name, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
  const value = () => {
    const v = inline ?? argv[++i];
    if (!v) fail(`${name} needs a value\n${usage}`);
    return v;
  };
  if (name === "--release") release = true;
  else if (name === "--target") targets = value().split(",").map((t) => t.trim()).filter(Boolean);
  else if (name === "--outdir") outdir = value();
  else fail(`unknown argument ${JSON.stringify(argv[i])}\n${usage}`);
}
if (!release && argv.some((a) => a !== "--release")) fail(`--target and --outdir are for --release\n${usage}`);
const unknown = targets.filter((t) => !RELEASE_TARGETS.includes(t));
if (unknown.length || !targets.length) fail(`unknown target ${unknown.join(", ") || "(none)"}; targets: ${RELEASE_TARGETS.join(", ")}`);

const entrypoints = ["src/main.ts"];
const extra = (await Array.fromAsync(new Bun.Glob("src/**/worker.ts").scan("."))).sort();
// The go command starts us in the directory it builds, which may be anyone's
// repository: a compiled Bun binary would otherwise read that directory's
// bunfig.toml (whose `preload` runs code in our process, beside the bucket
// credentials and signing keys) and .env (which would set GOCACHE_* and
// credential variables). Neither is ever read.
const flags = ["--compile", "--minify", "--bytecode", "--format=esm", "--splitting", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--no-compile-autoload-tsconfig", "--no-compile-autoload-package-json"];
const commit = await gitCommit();

/** One `bun build --compile`; false if it failed (bun has said why). */
async function compile(bunTarget: string, target: string, outfile: string): Promise<boolean> {
  const define = `BUILD_INFO=${JSON.stringify({ commit, target })}`;
  const r = await $`${process.execPath} build ${flags} --target=${bunTarget} --define ${define} ${entrypoints} ${extra} --outfile ${outfile}`.nothrow();
  return r.exitCode === 0;
}

if (!release) {
  await $`rm -rf dist && mkdir -p dist`;
  const host = `${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
  if (!(await compile("bun", host, "dist/go-cache-plugin"))) fail("build failed");
  console.log(`built dist/go-cache-plugin (${mb("dist/go-cache-plugin")}, ${host}, commit ${commit})`);
} else {
  await mkdir(outdir, { recursive: true });
  // Only what this script writes: SHA256SUMS always lists exactly the binaries beside it.
  await Promise.all([...RELEASE_TARGETS.map(fileName), "SHA256SUMS"].map((n) => rm(join(outdir, n), { force: true })));
  const sums: string[] = [];
  for (const target of targets) {
    const name = fileName(target);
    const file = join(outdir, name);
    if (!(await compile(`bun-${target}`, target, file))) fail(`build for ${target} failed`);
    const hasher = new Bun.CryptoHasher("sha256");
    hasher.update(await Bun.file(file).arrayBuffer());
    sums.push(`${hasher.digest("hex")}  ${name}\n`);
    console.log(`built ${file} (${mb(file)})`);
  }
  await Bun.write(join(outdir, "SHA256SUMS"), sums.sort((a, b) => a.slice(66).localeCompare(b.slice(66))).join(""));
  console.log(`wrote ${join(outdir, "SHA256SUMS")} (commit ${commit})`);
}

function fileName(target: string): string {
  return `go-cache-plugin-${target}${target.startsWith("windows-") ? ".exe" : ""}`;
}

function mb(file: string): string {
  return `${(Bun.file(file).size / 1e6).toFixed(1)} MB`;
}

/** `git rev-parse --short HEAD`, "-dirty" if the tree has changes, "unknown" outside a checkout. */
async function gitCommit(): Promise<string> {
  try {
    const rev = await $`git rev-parse --short HEAD`.cwd(import.meta.dir).quiet().nothrow();
    if (rev.exitCode !== 0) return "unknown";
    // --no-optional-locks: a build must not rewrite the index.
    const status = await $`git --no-optional-locks status --porcelain`.cwd(import.meta.dir).quiet().nothrow();
    return rev.stdout.toString().trim() + (status.exitCode === 0 && status.stdout.length > 0 ? "-dirty" : "");
  } catch {
    return "unknown"; // no git
  }
}

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}
