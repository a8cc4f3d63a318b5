/** Singleflight: one execution per key at a time, shared results and errors. */
import { describe, expect, test } from "bun:test";
import { SingleFlight } from "../../src/modproxy/singleflight.ts";

describe("SingleFlight", () => {
  test("50 concurrent callers share one execution and its result", async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    const fn = async () => { runs++; await Bun.sleep(20); return 42; };
    const results = await Promise.all(Array.from({ length: 50 }, () => sf.do("k", fn)));
    expect(runs).toBe(1);
    expect(results).toEqual(Array(50).fill(42));
    expect(sf.size).toBe(0);
  });

  test("different keys run independently", async () => {
    const sf = new SingleFlight<string>();
    let runs = 0;
    const out = await Promise.all(["a", "b", "a", "b"].map((k) => sf.do(k, async () => { runs++; await Bun.sleep(5); return k; })));
    expect(out).toEqual(["a", "b", "a", "b"]);
    expect(runs).toBe(2);
  });

  test("a rejection reaches every caller, and the key is free again afterwards", async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    const fail = async () => { runs++; await Bun.sleep(5); throw new Error("boom"); };
    const settled = await Promise.allSettled([sf.do("k", fail), sf.do("k", fail)]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    expect(runs).toBe(1);
    expect(await sf.do("k", async () => 7)).toBe(7);
  });

  test("a function that throws synchronously does not leave the key stuck", async () => {
    const sf = new SingleFlight<number>();
    await expect(sf.do("k", () => { throw new Error("sync"); })).rejects.toThrow("sync");
    expect(sf.size).toBe(0);
    expect(await sf.do("k", async () => 1)).toBe(1);
  });

  test("a call after completion runs again", async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    await sf.do("k", async () => ++runs);
    await sf.do("k", async () => ++runs);
    expect(runs).toBe(2);
  });
});
