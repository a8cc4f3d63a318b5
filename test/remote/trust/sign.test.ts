/** Keyring: what a signature covers, rotation, scopes, and every way a signature fails. */
import { describe, expect, test } from "bun:test";
import { Keyring } from "../../../src/remote/trust/sign.ts";
import type { TrustKey } from "../../../src/remote/trust/keys.ts";

const key = (id: string, secret: string, scope?: string[]): TrustKey => ({ id, secret: new TextEncoder().encode(secret), scope });
const A = "a".repeat(64), O = "0".repeat(64);
const fields = [A, O, 10, 1_700_000_000_000_000_000n];

describe("Keyring", () => {
  const ring = new Keyring([key("k1", "first-secret-0123456")]);
  const token = ring.sign("entry", "main", fields);

  test("a token is '<key id>:<hmac-sha256 hex>' and verifies the same statement", () => {
    expect(token).toMatch(/^k1:[0-9a-f]{64}$/);
    expect(ring.verify("entry", "main", fields, token)).toBe("ok");
  });

  test.each([
    ["another prefix", "entry", "pr/1", fields],
    ["another kind", "manifest", "main", fields],
    ["another output", "entry", "main", [A, "1".repeat(64), 10, fields[3]!]],
    ["another size", "entry", "main", [A, O, 11, fields[3]!]],
    ["another time", "entry", "main", [A, O, 10, 1n]],
  ] as const)("a signature does not carry over to %s", (_n, kind, prefix, f) => {
    expect(ring.verify(kind, prefix, [...f], token)).toBe("bad-signature");
  });

  test.each([
    ["no token", undefined, "unsigned"],
    ["a tampered mac", token.slice(0, -1) + (token.endsWith("0") ? "1" : "0"), "bad-signature"],
    ["an unknown key id", token.replace("k1:", "k9:"), "bad-signature"],
    ["a malformed token", "k1:xyz", "bad-signature"],
  ])("%s is %s", (_n, t, verdict) => {
    expect(ring.verify("entry", "main", fields, t)).toBe(verdict as never);
  });

  test("rotation: the new key signs, the old one still verifies", () => {
    const old = new Keyring([key("old", "old-secret-0123456789")]);
    const rotated = new Keyring([key("new", "new-secret-0123456789"), key("old", "old-secret-0123456789")]);
    const before = old.sign("entry", "", fields);
    expect(rotated.verify("entry", "", fields, before)).toBe("ok");
    const after = rotated.sign("entry", "", fields);
    expect(after.startsWith("new:")).toBe(true);
    expect(old.verify("entry", "", fields, after)).toBe("bad-signature");
  });

  test("a scoped key verifies only its namespaces", () => {
    const mainKey = key("main", "main-secret-012345678", ["main"]);
    const signer = new Keyring([mainKey]);
    const reader = new Keyring([key("pr", "pr-secret-0123456789", ["pr/1"]), mainKey]);
    expect(reader.verify("entry", "main", fields, signer.sign("entry", "main", fields))).toBe("ok");
    expect(reader.verify("entry", "pr/2", fields, signer.sign("entry", "pr/2", fields))).toBe("bad-signature");
  });

  test("the same id with another secret does not verify", () => {
    const other = new Keyring([key("k1", "another-secret-012345")]);
    expect(other.verify("entry", "main", fields, token)).toBe("bad-signature");
  });
});
