/** Module zip verification: prefix, truncation, size limits, go.mod against .mod. */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkModuleZip } from "../../src/modproxy/zipcheck.ts";
import { moduleFiles, writeZip } from "../support/fakeproxy.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);
const dir = tempDir("zipcheck");
let n = 0;
const file = (bytes: Uint8Array) => {
  const p = join(dir, `${++n}.zip`);
  writeFileSync(p, bytes);
  return p;
};
const MOD = "example.com/Upper/Mod";
const good = moduleFiles(MOD, { version: "v1.0.0" });
const check = (bytes: Uint8Array, extra: Partial<Parameters<typeof checkModuleZip>[0]> = {}) =>
  checkModuleZip({ path: file(bytes), module: MOD, version: "v1.0.0", maxBytes: 500 << 20, ...extra });

describe("checkModuleZip", () => {
  test("a good zip passes, with and without the expected .mod", async () => {
    expect(await check(good.zip)).toEqual({ ok: true, entries: 3 });
    expect(await check(good.zip, { expectedMod: new TextEncoder().encode(good.mod) })).toEqual({ ok: true, entries: 3 });
  });

  test("a zip without go.mod passes (the .mod is synthesized then)", async () => {
    expect((await check(writeZip([{ name: `${MOD}@v1.0.0/x.go`, data: "package x\n" }]))).ok).toBe(true);
  });

  test.each([
    ["wrong module prefix", () => writeZip([{ name: "example.com/other@v1.0.0/go.mod", data: "module example.com/other\n" }]), /not under/],
    ["escaped prefix instead of the real path", () => writeZip([{ name: "example.com/!upper/!mod@v1.0.0/go.mod", data: "x" }]), /not under/],
    ["wrong version", () => moduleFiles(MOD, { version: "v1.0.1" }).zip, /not under/],
    ["dot-dot entry", () => writeZip([{ name: `${MOD}@v1.0.0/../evil`, data: "x" }]), /bad entry name/],
    ["case collision", () => writeZip([{ name: `${MOD}@v1.0.0/A.go`, data: "x" }, { name: `${MOD}@v1.0.0/a.go`, data: "y" }]), /duplicate/],
    ["truncated (tail cut)", () => good.zip.subarray(0, good.zip.length - 10), /end-of-central-directory/],
    ["truncated (half)", () => good.zip.subarray(0, good.zip.length >> 1), /end-of-central-directory/],
    ["not a zip", () => new TextEncoder().encode("<html>502 Bad Gateway</html>"), /end-of-central-directory/],
    ["empty file", () => new Uint8Array(0), /end-of-central-directory/],
  ])("refuses: %s", async (_, make, reason) => {
    const r = await check(make());
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  test("go.mod differing from the .mod is refused", async () => {
    const r = await check(good.zip, { expectedMod: new TextEncoder().encode("module example.com/Upper/Mod\n\ngo 1.21\n") });
    expect(r).toEqual({ ok: false, reason: "zip: go.mod differs from the version's .mod file" });
  });

  test("a corrupt go.mod entry (bad CRC) is refused", async () => {
    const z = writeZip([{ name: `${MOD}@v1.0.0/go.mod`, data: "module example.com/Upper/Mod\n", deflate: false }]);
    const at = 30 + `${MOD}@v1.0.0/go.mod`.length; // first data byte
    z[at] = z[at]! ^ 0xff;
    expect(await check(z)).toEqual({ ok: false, reason: "zip: go.mod is corrupt (size or CRC-32 mismatch)" });
  });

  test("size limits: the file and the uncompressed total", async () => {
    expect((await check(good.zip, { maxBytes: 100 })) as unknown).toMatchObject({ ok: false, reason: expect.stringMatching(/exceeds the 100-byte limit/) });
    const bomb = writeZip([{ name: `${MOD}@v1.0.0/big`, data: new Uint8Array(2 << 20) }]);
    expect(bomb.length).toBeLessThan(1 << 20);
    expect((await check(bomb, { maxBytes: 1 << 20 })) as unknown).toMatchObject({ ok: false, reason: expect.stringMatching(/uncompressed size exceeds/) });
  });
});
