import { describe, expect, test } from "bun:test";
import { KINDS, type Kind } from "../../src/remote/format/layout.ts";
import { cutoffForSize, plan, type BucketObject, type Snapshot } from "../../src/lifecycle/plan.ts";

const id = (s: string) => s.padEnd(64, "0");
const obj = (kind: Kind, name: string, t: number, size = 10): BucketObject => ({ key: `${kind}/${name}`, id: id(name), size, modifiedMs: t });
function snap(objects: [Kind, string, number, number?][]): Snapshot {
  const s = Object.fromEntries(KINDS.map((k) => [k, [] as BucketObject[]])) as Snapshot;
  for (const [k, n, t, size] of objects) s[k].push(obj(k, n, t, size));
  return s;
}
const m = (a: string, o: string) => ({ actionId: id(a), outputId: id(o), size: 10, timeNanos: 1n });

// Two builds: X (old: t=100) used a1->o1 and a2->o2; Y (new: t=300) used a2->o2 and a3->o3.
const snapshot = snap([
  ["ax", "a1", 100], ["action", "a1", 100], ["ax", "a2", 100], ["ax", "a3", 300],
  ["output", "o1", 100], ["zoutput", "o2", 100], ["zoutput", "o3", 300], ["output", "o4", 250],
  ["manifest", "mx", 100, 50], ["pack", "mx", 100, 500], ["manifest", "my", 300, 50], ["pack", "my", 300, 500],
  ["manifest-index", "a1", 100], ["manifest-index", "a2", 300],
]);
// Y's manifest (t=300) lists a2->o2 and a3->o3 (X's, older, is not read: it is past every cutoff below).
const uses = { actions: new Map([[id("a2"), 300], [id("a3"), 300]]), outputs: new Map([[id("o2"), 300], [id("o3"), 300]]) };
const none = { actions: new Map<string, number>(), outputs: new Map<string, number>() };

describe("plan", () => {
  const deleted = (cutoffMs: number, recordOutputs = new Map<string, string[]>()) =>
    plan({ snapshot, uses, recordOutputs, cutoffMs }).delete.map((d) => d.object.key);

  test("what only the old build used goes, records before outputs; shared and new entries stay", () => {
    expect(deleted(200)).toEqual(["manifest/mx", "pack/mx", "manifest-index/a1", "ax/a1", "action/a1", "output/o1"]);
  });

  test.each([
    ["names it", new Map([[id("a3"), [id("o4")]]]), false],
    ["names another", new Map([[id("a3"), [id("o3")]]]), true],
  ] as const)("an old output a new record (read because no fresh manifest lists it) %s", (_name, recordOutputs, gone) => {
    const d = plan({ snapshot, uses: none, recordOutputs, cutoffMs: 260 }).delete.map((x) => x.object.key);
    expect(d.includes("output/o4")).toBe(gone);
    expect(d).not.toContain("ax/a3");
  });

  test("a cutoff before everything deletes nothing", () => {
    expect(deleted(50)).toEqual([]);
  });

  test("an output written after the cutoff stays even when nothing names it yet", () => {
    expect(deleted(200)).not.toContain("output/o4");
    expect(deleted(260)).toContain("output/o4");
  });

  test("cutoffForSize picks the earliest cutoff that fits, least recently used first", () => {
    const base = { snapshot, uses, recordOutputs: new Map() };
    const total = plan({ ...base, cutoffMs: 0 }).keptBytes;
    expect(cutoffForSize(base, total, 0, 1000)).toBe(0);
    const c = cutoffForSize(base, total - 1, 0, 1000)!;
    expect(c).toBe(101); // X's objects (t=100) are the oldest: they go first
    expect(plan({ ...base, cutoffMs: c }).keptBytes).toBeLessThan(total);
    expect(cutoffForSize(base, 0, 0, 200)).toBeUndefined(); // Y's entries are within the protected window
  });
});
