/** Locations shared by tests: the repository root, the compiled binary, temporary directories. */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const BINARY = join(ROOT, "dist", "go-cache-plugin");
/** Where scripts/install-*-server.sh put the test servers they build. */
export const TOOLS_BIN = join(ROOT, ".tools", "bin");

/** The compiled binary; fails clearly when it was not built. */
export function binary(): string {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run 'bun run build.ts' (npm test does it) before the tests`);
  return BINARY;
}

const made: string[] = [];

/** A fresh temporary directory, removed by cleanupTempDirs(). */
export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `gcp-${label}-`));
  made.push(dir);
  return dir;
}

export function cleanupTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}
