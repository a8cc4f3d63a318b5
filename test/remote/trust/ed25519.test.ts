/** Ed25519 keys (keygen, key file lines, signing): a public key verifies what its private key signed and can sign nothing. */
import { describe, expect, test } from "bun:test";
import { Keyring } from "../../../src/remote/trust/sign.ts";
import { KeyFileError, newKeyPair, parseKeyFile } from "../../../src/remote/trust/keys.ts";

const A = "a".repeat(64), O = "0".repeat(64);
const fields = [A, O, 10, 1_700_000_000_000_000_000n];
const parse = (...lines: string[]) => parseKeyFile(lines.join("\n"), "keys", "main");
const parseAs = (prefix: string, ...lines: string[]) => parseKeyFile(lines.join("\n"), "keys", prefix);

describe("Ed25519 keys", () => {
  const main = newKeyPair("main-2026");
  const signer = new Keyring(parse(main.privateLine));
  const reader = new Keyring(parseAs("pr/1", `pr-1 ${"p".repeat(20)} pr/1`, `${main.publicLine} main`)); // a pull request's job

  test("keygen's lines: private and public, 32 bytes each in base64", () => {
    expect(main.privateLine).toMatch(/^main-2026 ed25519:[A-Za-z0-9+/]{43}=$/);
    expect(main.publicLine).toMatch(/^main-2026 ed25519-public:[A-Za-z0-9+/]{43}=$/);
    expect(newKeyPair("main-2026").publicLine).not.toBe(main.publicLine);
    expect(() => newKeyPair("bad id")).toThrow(KeyFileError);
  });

  test("a token of the private key is '<id>:<128 hex>'; the public key alone verifies it, for its namespace only", () => {
    const token = signer.sign("entry", "main", fields);
    expect(token).toMatch(/^main-2026:[0-9a-f]{128}$/);
    expect(signer.verify("entry", "main", fields, token)).toBe("ok");
    expect(reader.verify("entry", "main", fields, token)).toBe("ok");
    expect(reader.verify("entry", "pr/1", fields, token)).toBe("bad-signature"); // scoped to main
    expect(reader.verify("entry", "main", [A, O, 11, fields[3]!], token)).toBe("bad-signature");
  });

  test.each([
    ["another key pair under the same id", () => new Keyring(parse(newKeyPair("main-2026").privateLine)).sign("entry", "main", fields)],
    ["an HMAC-length token", () => `main-2026:${"ab".repeat(32)}`],
    ["flipped bits", () => signer.sign("entry", "main", fields).replace(/.$/, (c) => (c === "0" ? "1" : "0"))],
  ])("a token from %s is a bad signature", (_n, token) => {
    expect(reader.verify("entry", "main", fields, token())).toBe("bad-signature");
  });

  test("a public key cannot be the signing key: the file says so, naming no key material", () => {
    expect(() => parse(main.publicLine)).toThrow(/public key/);
    try { parse(main.publicLine); } catch (err) { expect(String(err)).not.toContain(main.publicLine.split(":")[1]!); }
  });

  test.each([
    ["a short key", "k ed25519:AAAA"],
    ["a bad prefix", `k ed25519-pub:${"A".repeat(43)}=`],
  ])("%s is refused with the line number", (_n, line) => {
    expect(() => parse(line)).toThrow(/line 1: an ed25519 key/);
  });
});

describe("weak Ed25519 public keys", () => {
  test.each([
    ["the identity point", "01".padEnd(64, "0")],
    ["a point of order 8", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"],
    ["a non-canonical encoding (y = p)", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"],
  ])("%s is refused at load", (_n, hex) => {
    const line = `k ed25519-public:${Buffer.from(hex, "hex").toString("base64")}`;
    expect(() => parseKeyFile(`${newKeyPair("s").privateLine}\n${line}`, "keys", "")).toThrow(/small-order or non-canonical/);
  });
});

describe("a key file of public keys", () => {
  test("loads for a --read-only process, which verifies with it and cannot sign", () => {
    const main = newKeyPair("main-2026");
    const ring = new Keyring(parseKeyFile(`${main.publicLine} main`, "keys", "pr/1", true));
    const token = new Keyring(parse(main.privateLine)).sign("entry", "main", fields);
    expect(ring.verify("entry", "main", fields, token)).toBe("ok");
    expect(() => ring.sign("entry", "pr/1", fields)).toThrow(/cannot sign/);
    expect(() => parseKeyFile(`${main.publicLine} main`, "keys", "pr/1", false)).toThrow(/public key/);
  });
});
