import { describe, expect, test } from "bun:test";
import { parentHint, sessionHint, type HintInput } from "../../src/server/hint.ts";

const base: HintInput = { cwd: "/src/app", args: ["go", "build", "./..."], env: { GOOS: "linux", HOME: "/home/a" } };

describe("sessionHint", () => {
  test("is a stable SHA-256 of the build's identity", () => {
    expect(sessionHint(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(sessionHint({ ...base, env: { ...base.env } })).toBe(sessionHint(base));
  });

  test.each([
    ["another directory", { cwd: "/src/other" }],
    ["other arguments", { args: ["go", "test", "./..."] }],
    ["another GOOS", { env: { ...base.env, GOOS: "darwin" } }],
    ["GOFLAGS set", { env: { ...base.env, GOFLAGS: "-tags=x" } }],
  ])("changes with %s", (_name, change) => {
    expect(sessionHint({ ...base, ...change })).not.toBe(sessionHint(base));
  });

  test("ignores variables that do not select cache entries", () => {
    expect(sessionHint({ ...base, env: { ...base.env, HOME: "/home/b", TERM: "x" } })).toBe(sessionHint(base));
  });

  test("parentHint names this process's parent (Linux /proc)", () => {
    expect(parentHint()).toMatch(/^[0-9a-f]{64}$/);
  });
});
