/**
 * `bun run build.ts --release` for one cross target (linux-arm64) and the
 * native one (linux-x64), into a temporary directory: the cross binary is an
 * aarch64 ELF file, SHA256SUMS matches both files, and the native binary
 * says its version, commit and target. The full release stays on demand
 * (npm run release). A cross target's runtime is downloaded once, then
 * cached by bun. The arm64 binary also runs, under qemu-user
 * (scripts/install-qemu.sh), for a real go command: its `version`, and a
 * cold then warm build through it in direct mode.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { existsSync } from "node:fs";
import { ROOT, cleanupTempDirs, tempDir } from "./support/paths.ts";
import { expectOk, isolatedGoEnv, libraryModule, parseMetrics, runGo } from "./support/go.ts";

const QEMU = "qemu-aarch64-static";
const ARM64_LIBC = "/usr/aarch64-linux-gnu";
/** The command line that runs the arm64 binary here (natively on an arm64 machine). */
function arm64(): string[] {
  const bin = join(outdir, "go-cache-plugin-linux-arm64");
  if (process.arch === "arm64") return [bin];
  if (!Bun.which(QEMU) || !existsSync(join(ARM64_LIBC, "lib", "ld-linux-aarch64.so.1"))) throw new Error(`${QEMU} or the aarch64 C library is missing: run scripts/install-qemu.sh (as root; npm test does)`);
  return [QEMU, "-L", ARM64_LIBC, bin];
}

let outdir = "";
let build: { exitCode: number; stdout: string; stderr: string };

beforeAll(async () => {
  outdir = tempDir("release");
  const p = Bun.spawn([process.execPath, "run", "build.ts", "--release", "--target", "linux-arm64,linux-x64", "--outdir", outdir], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  build = { exitCode, stdout, stderr };
}, 110_000);
afterAll(cleanupTempDirs);

describe("release build", () => {
  test("builds exactly the asked targets and SHA256SUMS", () => {
    if (build.exitCode !== 0) throw new Error(`release build failed:\n${build.stdout}\n${build.stderr}`);
    expect(readdirSync(outdir).sort()).toEqual(["SHA256SUMS", "go-cache-plugin-linux-arm64", "go-cache-plugin-linux-x64"]);
  });

  test("the linux-arm64 binary is a little-endian 64-bit aarch64 ELF executable", async () => {
    const head = new Uint8Array(await Bun.file(join(outdir, "go-cache-plugin-linux-arm64")).slice(0, 64).arrayBuffer());
    expect([...head.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]); // \x7fELF
    expect(head[4]).toBe(2); // ELFCLASS64
    expect(head[5]).toBe(1); // ELFDATA2LSB
    const view = new DataView(head.buffer);
    expect(view.getUint16(16, true)).toBe(2); // e_type ET_EXEC
    expect(view.getUint16(18, true)).toBe(0xb7); // e_machine EM_AARCH64
    // And the native one is x86-64, so the check above tells the two apart.
    const native = new DataView(await Bun.file(join(outdir, "go-cache-plugin-linux-x64")).slice(0, 20).arrayBuffer());
    expect(native.getUint16(18, true)).toBe(0x3e); // EM_X86_64
  });

  test("SHA256SUMS lists each binary with its digest, in sha256sum format", async () => {
    const text = await Bun.file(join(outdir, "SHA256SUMS")).text();
    const lines = text.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    for (const name of ["go-cache-plugin-linux-arm64", "go-cache-plugin-linux-x64"]) {
      const hasher = new Bun.CryptoHasher("sha256");
      hasher.update(await Bun.file(join(outdir, name)).arrayBuffer());
      expect(lines).toContain(`${hasher.digest("hex")}  ${name}`);
    }
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: outdir });
    expect(check.exitCode).toBe(0);
  });

  test("the native binary runs `version`: version, commit, bun and target", async () => {
    const p = Bun.spawn([join(outdir, "go-cache-plugin-linux-x64"), "version"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [stdout, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(code).toBe(0);
    const m = stdout.match(/^go-cache-plugin (\S+) \(commit (\S+), bun (\S+), (\S+)\)\n$/);
    if (!m) throw new Error(`unexpected version line: ${JSON.stringify(stdout)}`);
    expect(m[1]).toBe(pkg.version);
    expect(m[3]).toBe(Bun.version);
    expect(m[4]).toBe("linux-x64");
    const rev = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT });
    if (rev.exitCode === 0) expect(m[2]).toMatch(new RegExp(`^${rev.stdout.toString().trim()}(-dirty)?$`));
    else expect(m[2]).toBe("unknown");
  });

  test("the linux-arm64 binary runs (under qemu-user here): `version` names its target", async () => {
    const p = Bun.spawn([...arm64(), "version"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`arm64 version failed (${code}): ${stderr}`);
    expect(stdout).toMatch(/^go-cache-plugin \S+ \(commit \S+, bun \S+, linux-arm64\)\n$/);
  });

  test("the linux-arm64 binary serves a real go build in direct mode: cold puts, then a warm build of hits only", async () => {
    const cacheDir = tempDir("arm64-cache");
    const mod = libraryModule("arm64");
    const prog = [...arm64(), "--cache-dir", cacheDir, "--metrics"].join(" ");
    const cold = await runGo(["build", "./..."], { cwd: mod, env: { ...isolatedGoEnv(), GOCACHEPROG: prog } });
    expectOk(cold);
    const c = parseMetrics(cold.stderr);
    expect(c.cache_puts).toBeGreaterThan(20);
    const warm = await runGo(["build", "./..."], { cwd: mod, env: { ...isolatedGoEnv(), GOCACHEPROG: prog } });
    expectOk(warm);
    const w = parseMetrics(warm.stderr);
    expect(w.cache_gets).toBeGreaterThan(20);
    expect(w.cache_hits).toBe(w.cache_gets);
    expect(w.cache_bytes_in).toBe(0);
  }, 110_000);
});
