/**
 * Builds dist/go-cache-plugin, one self-contained executable.
 *
 * --bytecode with --format=esm and --splitting measured fastest to the
 * capability line (see README): code that direct mode does not need (the S3
 * SDK, the worker, serve) sits in chunks that are parsed only when imported.
 */
import { $ } from "bun";

const entrypoints = ["src/main.ts"];
const extra = (await Array.fromAsync(new Bun.Glob("src/**/worker.ts").scan("."))).sort();
await $`rm -rf dist && mkdir -p dist`;
const flags = ["--compile", "--minify", "--bytecode", "--format=esm", "--splitting", "--target=bun"];
const result = await $`${process.execPath} build ${flags} ${entrypoints} ${extra} --outfile dist/go-cache-plugin`.nothrow();
if (result.exitCode !== 0) {
  console.error("build failed");
  process.exit(result.exitCode);
}
console.log(`built dist/go-cache-plugin (${(Bun.file("dist/go-cache-plugin").size / 1e6).toFixed(1)} MB)`);
