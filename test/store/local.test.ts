import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { LocalStore } from "../../src/store/local.ts";
import { trimDue, trimStore } from "../../src/store/trim.ts";
import { cleanupTempDirs, tempDir } from "../support/paths.ts";

afterAll(cleanupTempDirs);

const hex = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

function put(store: LocalStore, label: string, body: Uint8Array, overrides: { outputId?: string; size?: number } = {}) {
  const sink = store.put({ actionId: hex(`a:${label}`), outputId: overrides.outputId ?? hex(body), size: overrides.size ?? body.length });
  for (let i = 0; i < body.length; i += 1000) sink.write(body.subarray(i, i + 1000));
  return sink.commit();
}

describe("LocalStore", () => {
  test("a committed put is a hit with an absolute 0755 file of the right bytes", () => {
    const store = new LocalStore({ dir: tempDir("store") });
    const body = new TextEncoder().encode("compiled output".repeat(500));
    const entry = put(store, "one", body);
    const got = store.get(hex("a:one"))!;
    expect(got.outputId).toBe(hex(body));
    expect(got.size).toBe(body.length);
    expect(got.diskPath).toBe(entry.diskPath);
    expect(got.diskPath.startsWith("/")).toBe(true);
    expect(statSync(got.diskPath).mode & 0o777).toBe(0o755);
    expect(Buffer.from(require("node:fs").readFileSync(got.diskPath)).equals(Buffer.from(body))).toBe(true);
    expect(got.timeNanos).toBeGreaterThan(BigInt(Date.now() - 60_000) * 1_000_000n);
  });

  test("an unknown action is a miss, not an error", () => {
    const store = new LocalStore({ dir: tempDir("store") });
    expect(store.get(hex("nothing"))).toBeUndefined();
  });

  test.each([
    ["a wrong digest", { outputId: hex("something else") }, /does not match OutputID/],
    ["a short body", { size: 5000 }, /4000 bytes, BodySize says 5000/],
    ["a long body", { size: 3000 }, /4000 bytes, BodySize says 3000/],
  ])("rejects %s and stores nothing", (_name, overrides, message) => {
    const dir = tempDir("store");
    const store = new LocalStore({ dir });
    expect(() => put(store, "bad", new Uint8Array(4000).fill(1), overrides)).toThrow(message);
    expect(store.get(hex("a:bad"))).toBeUndefined();
    const leftovers = readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".tmp"));
    expect(leftovers).toEqual([]);
  });

  test("a truncated object is a miss, and the next put replaces it", () => {
    const store = new LocalStore({ dir: tempDir("store") });
    const body = new Uint8Array(2048).fill(7);
    const entry = put(store, "t", body);
    truncateSync(entry.diskPath, 100);
    expect(store.get(hex("a:t"))).toBeUndefined();
    expect(store.counters.corrupt).toBe(1);
    put(store, "t", body);
    expect(store.get(hex("a:t"))!.size).toBe(2048);
    expect(statSync(entry.diskPath).size).toBe(2048);
  });

  test.each([
    ["garbage", () => "garbage"],
    ["empty", () => ""],
    ["a valid record with trailing bytes", (good: string) => good + "x".repeat(200)],
  ])("a corrupt action record (%s) is a miss", (_name, corrupt) => {
    const store = new LocalStore({ dir: tempDir("store") });
    put(store, "c", new Uint8Array(10));
    const path = store.layout.actionPath(hex("a:c"));
    writeFileSync(path, corrupt(readFileSync(path, "latin1")));
    expect(store.get(hex("a:c"))).toBeUndefined();
    expect(store.counters.corrupt).toBe(1);
  });

  test("an empty output is stored", () => {
    const store = new LocalStore({ dir: tempDir("store") });
    put(store, "empty", new Uint8Array(0));
    expect(store.get(hex("a:empty"))).toMatchObject({ outputId: hex(""), size: 0 });
  });

  test("an aborted put leaves nothing behind", () => {
    const dir = tempDir("store");
    const store = new LocalStore({ dir });
    const sink = store.put({ actionId: hex("x"), outputId: hex("y"), size: 10 });
    sink.write(new Uint8Array(5));
    sink.abort();
    expect(readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".tmp"))).toEqual([]);
  });
});

describe("trim", () => {
  const HOUR = 3_600_000;
  function aged(store: LocalStore, label: string, size: number, ageMs: number) {
    const entry = put(store, label, new Uint8Array(size).fill(label.length));
    const t = new Date(Date.now() - ageMs);
    utimesSync(entry.diskPath, t, t);
    utimesSync(store.layout.actionPath(hex(`a:${label}`)), t, t);
    return entry;
  }

  test("--expiry removes entries unused for longer, never recent ones", () => {
    const store = new LocalStore({ dir: tempDir("store") });
    const old = aged(store, "old", 100, 100 * HOUR);
    const recent = aged(store, "recent-ish", 100, 1 * HOUR); // within the 2 h protection window
    const r = trimStore({ layout: store.layout, expiryMs: 30 * 60_000, maxSizeBytes: 0 });
    expect(existsSync(old.diskPath)).toBe(false);
    expect(existsSync(recent.diskPath)).toBe(true);
    expect(r.removedObjects).toBe(1);
    expect(r.removedActions).toBe(1);
    expect(store.get(hex("a:old"))).toBeUndefined();
  });

  test("--max-size removes least recently used first until it fits", () => {
    const store = new LocalStore({ dir: tempDir("store") });
    const a = aged(store, "a", 1000, 50 * HOUR);
    const bb = aged(store, "bb", 1000, 40 * HOUR);
    const ccc = aged(store, "ccc", 1000, 30 * HOUR);
    const r = trimStore({ layout: store.layout, expiryMs: 0, maxSizeBytes: 2000 });
    expect([existsSync(a.diskPath), existsSync(bb.diskPath), existsSync(ccc.diskPath)]).toEqual([false, true, true]);
    expect(r.remainingBytes).toBe(2000);
  });

  test("--max-size never removes entries used within the protection window", () => {
    const store = new LocalStore({ dir: tempDir("store") });
    const fresh = aged(store, "fresh", 5000, 0);
    trimStore({ layout: store.layout, expiryMs: 0, maxSizeBytes: 10 });
    expect(existsSync(fresh.diskPath)).toBe(true);
  });

  test("trim runs at most once per interval", () => {
    const store = new LocalStore({ dir: tempDir("store") });
    const opts = { expiryMs: HOUR, maxSizeBytes: 0, intervalMs: HOUR };
    expect(trimDue(store.layout, opts)).toBe(true);
    trimStore({ layout: store.layout, expiryMs: HOUR, maxSizeBytes: 0 });
    expect(trimDue(store.layout, opts)).toBe(false);
    expect(trimDue(store.layout, { ...opts, intervalMs: 0 })).toBe(true);
    expect(trimDue(store.layout, { ...opts, expiryMs: 0 })).toBe(false);
  });
});
