import { describe, expect, test } from "bun:test";
import { formatTime, hexToId, idToHex } from "../../src/protocol/messages.ts";

const hex = "f2d1b9c327a8500bfec9bbd715639b8b7057faedb04608352722b0f487d4a86c";
const b64 = Buffer.from(hex, "hex").toString("base64");
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** The same bytes spelled with a set padding bit (lenient decoders accept it). */
function strayBits(id: string): string {
  const i = ALPHABET.indexOf(id[42]!);
  return `${id.slice(0, 42)}${ALPHABET[i ^ 1]}=`;
}

describe("idToHex / hexToId", () => {
  test("round-trips a 32-byte ID", () => {
    expect(idToHex(b64, "ActionID")).toBe(hex);
    expect(hexToId(hex)).toBe(b64);
  });

  test.each([
    ["empty", ""],
    ["not a string", 42],
    ["31 bytes", Buffer.alloc(31, 7).toString("base64")],
    ["33 bytes", Buffer.alloc(33, 7).toString("base64")],
    ["no padding", b64.slice(0, -1)],
    ["a bad character", `*${b64.slice(1)}`],
    ["URL-safe alphabet", Buffer.alloc(32, 0xff).toString("base64url") + "="],
    ["stray bits in the last character", strayBits(b64)],
    ["surrounding whitespace", ` ${b64.slice(0, -1)}`],
  ])("rejects %s", (_name, value) => {
    expect(() => idToHex(value, "OutputID")).toThrow(/OutputID/);
  });
});

describe("formatTime", () => {
  test.each([
    [0n, "1970-01-01T00:00:00.000000000Z"],
    [1n, "1970-01-01T00:00:00.000000001Z"],
    [1_000_000_000n, "1970-01-01T00:00:01.000000000Z"],
    [1_795_549_958_484_162_123n, "2026-11-24T19:52:38.484162123Z"],
  ])("%p is %s", (nanos, text) => {
    expect(formatTime(nanos)).toBe(text);
  });
});
