/**
 * The Cache contract (src/store/store.ts), as one suite that every Cache
 * implementation runs: a new tier is proven by adding one line in
 * cache.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Cache, Entry, SessionHandle } from "../../src/store/store.ts";

export interface CacheHarness {
  /** A fresh, empty cache. */
  open(): Promise<Cache>;
  stop(): Promise<void>;
}

const hex = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");
const bytes = (s: string) => new TextEncoder().encode(s);

async function put(cache: Cache, actionId: string, body: Uint8Array, o: { outputId?: string; size?: number; session?: SessionHandle; chunk?: number } = {}): Promise<Entry> {
  const sink = cache.put({ actionId, outputId: o.outputId ?? hex(body), size: o.size ?? body.length }, o.session);
  const step = o.chunk ?? 4096;
  for (let i = 0; i < body.length; i += step) sink.write(body.subarray(i, i + step));
  try {
    return await sink.commit();
  } catch (err) {
    sink.abort();
    throw err;
  }
}

export function cacheContract(name: string, start: () => Promise<CacheHarness>): void {
  describe(`Cache contract: ${name}`, () => {
    let h: CacheHarness;
    let cache: Cache;
    beforeAll(async () => {
      h = await start();
      cache = await h.open();
    });
    afterAll(async () => {
      await cache?.close();
      await h?.stop();
    });

    test("an unknown action is a miss (undefined), not an error", async () => {
      expect(await cache.get(hex("never put"))).toBeUndefined();
    });

    test.each([
      ["a small output", bytes("compiled".repeat(100))],
      ["an empty output", new Uint8Array(0)],
      ["a 3 MB output written in odd chunks", new Uint8Array(3 << 20).map((_, i) => (i * 31) & 255)],
    ])("%s: a committed put is a hit whose file holds exactly the bytes", async (label, body) => {
      const actionId = hex(`contract:${label}`);
      const entry = await put(cache, actionId, body, { chunk: 1000 });
      expect(entry.outputId).toBe(hex(body));
      const got = (await cache.get(actionId))!;
      expect(got.outputId).toBe(hex(body));
      expect(got.size).toBe(body.length);
      expect(got.diskPath.startsWith("/")).toBe(true);
      expect(createHash("sha256").update(readFileSync(got.diskPath)).digest("hex")).toBe(hex(body));
      expect(typeof got.timeNanos).toBe("bigint");
      expect(got.timeNanos).toBeGreaterThan(BigInt(Date.now() - 600_000) * 1_000_000n);
    });

    test.each([
      ["a wrong digest", { outputId: hex("other bytes") }],
      ["a short body", { size: 5000 }],
      ["a long body", { size: 10 }],
    ])("%s: commit throws and nothing becomes visible", async (label, o) => {
      const actionId = hex(`bad:${label}`);
      await expect(put(cache, actionId, new Uint8Array(4000).fill(1), o)).rejects.toThrow();
      expect(await cache.get(actionId)).toBeUndefined();
    });

    test("an aborted put leaves nothing", async () => {
      const actionId = hex("aborted");
      const body = bytes("half");
      const sink = cache.put({ actionId, outputId: hex(body), size: body.length });
      sink.write(body.subarray(0, 2));
      sink.abort();
      expect(await cache.get(actionId)).toBeUndefined();
    });

    test("a second put of one action replaces the first; an output shared by two actions serves both", async () => {
      const a = hex("replaced");
      await put(cache, a, bytes("first"));
      await put(cache, a, bytes("second"));
      expect((await cache.get(a))!.outputId).toBe(hex(bytes("second")));
      const b = hex("shares");
      await put(cache, b, bytes("second"));
      expect((await cache.get(b))!.outputId).toBe(hex(bytes("second")));
    });

    test("sessions: gets and puts carry the handle; closing a session loses nothing", async () => {
      const s = cache.openSession?.();
      const actionId = hex("in a session");
      await put(cache, actionId, bytes("session body"), { session: s });
      expect((await cache.get(actionId, s))!.outputId).toBe(hex(bytes("session body")));
      if (s) await cache.closeSession?.(s, true);
      expect((await cache.get(actionId))!.outputId).toBe(hex(bytes("session body")));
    });

    test("many concurrent puts and gets", async () => {
      const bodies = Array.from({ length: 50 }, (_, i) => bytes(`concurrent ${i}`.repeat(i + 1)));
      await Promise.all(bodies.map((b, i) => put(cache, hex(`c${i}`), b)));
      const got = await Promise.all(bodies.map((_, i) => cache.get(hex(`c${i}`))));
      expect(got.map((e) => e?.outputId)).toEqual(bodies.map((b) => hex(b)));
    });
  });
}
