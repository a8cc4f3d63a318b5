/** The form of checksum-database lookup and latest answers (sumcheck.ts), as golang.org/x/mod/sumdb parses them. */
import { describe, expect, test } from "bun:test";
import { checkLookup, checkSignedTree } from "../../src/modproxy/sumcheck.ts";
import { routeSumdb } from "../../src/modproxy/sumdb.ts";
import { lookupAnswer, treeNote } from "../support/fakeproxy.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const DB = "sum.golang.org";
// Real go.sum lines of golang.org/x/text v0.3.0, with a tree head of the shape sum.golang.org sends.
const TEXT = "golang.org/x/text v0.3.0 h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWg=\ngolang.org/x/text v0.3.0/go.mod h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=\n";
const TREE = "go.sum database tree\n31988262\nqDOaSMw+8h5s1GEa4sBjk8s8Ui3Ovr8thVQxRYPDPKk=\n";
const SIG = "\u2014 sum.golang.org Az3grlLp+3qvAkz1hPWuvkXgL1G9yb14mQmVCMhsmfCfyq4jD6B2aFWyDzbNH/Gl1jWF1RrBzAhmPpY3hNfN8DeN/gc=\n";
const REAL = `25\n${TEXT}\n${TREE}\n${SIG}`;

describe("checkLookup", () => {
  test.each([
    ["the shape sum.golang.org sends", REAL, "golang.org/x/text", "v0.3.0"],
    ["records in the other order", `25\n${TEXT.split("\n").reverse().slice(1).join("\n")}\n\n${TREE}\n${SIG}`, "golang.org/x/text", "v0.3.0"],
    ["two signatures, one by the database", `25\n${TEXT}\n${TREE}\n\u2014 witness.example AAAAAAAAAAAA\n${SIG}`, "golang.org/x/text", "v0.3.0"],
    ["a tree note with extra lines (forward compatible)", `25\n${TEXT}\n${TREE}extra line\n\n${SIG}`, "golang.org/x/text", "v0.3.0"],
    ["the test helper's answer", lookupAnswer(DB, "example.com/Upper/Mod", "v1.0.1-RC1"), "example.com/Upper/Mod", "v1.0.1-RC1"],
  ])("accepts %s", (_name, body, module, version) => {
    expect(checkLookup(enc(body), DB, module, version)).toBeUndefined();
  });

  test.each([
    ["random bytes", new Uint8Array(300).map((_, i) => (i * 37 + 11) & 255), /not UTF-8|record number/],
    ["empty", "", /no record number/],
    ["no record number", `${TEXT}\n${TREE}\n${SIG}`, /no record number/],
    ["a negative record number", `-5\n${TEXT}\n${TREE}\n${SIG}`, /no record number/],
    ["no blank line", `25\n${TEXT}`, /no blank line/],
    ["another module's records", REAL.replaceAll("golang.org/x/text", "golang.org/x/evil"), /not exactly the h1: hashes of golang.org\/x\/text@v0.3.0/],
    ["another version's records", REAL.replaceAll("v0.3.0", "v0.3.1"), /not exactly/],
    ["the go.mod hash missing", `25\n${TEXT.split("\n")[0]}\n\n${TREE}\n${SIG}`, /not exactly/],
    ["an extra record line", `25\n${TEXT}golang.org/x/text v0.3.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n${TREE}\n${SIG}`, /not exactly/],
    ["a short hash", REAL.replace("h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWg=", "h1:g61t"), /not exactly/],
    ["an h2 hash", REAL.replace("v0.3.0 h1:", "v0.3.0 h2:"), /not exactly/],
    ["a tab in the records", REAL.replace("v0.3.0 h1:", "v0.3.0\th1:"), /control characters/],
    ["no signature", `25\n${TEXT}\n${TREE}`, /signed note/],
    ["a signature by someone else only", `25\n${TEXT}\n${TREE}\n\u2014 evil.example AAAAAAAAAAAA\n`, /no signature by sum.golang.org/],
    ["a signature line without the em dash", `25\n${TEXT}\n${TREE}\n- sum.golang.org AAAAAAAAAAAA\n`, /malformed signature/],
    ["a signature too short", `25\n${TEXT}\n${TREE}\n\u2014 sum.golang.org AAAA\n`, /malformed signature/],
    ["a signature not base64", `25\n${TEXT}\n${TREE}\n\u2014 sum.golang.org !!!!AAAAAAAA\n`, /malformed signature/],
    ["no final newline", REAL.slice(0, -1), /no signature lines/],
    ["not a tree note", `25\n${TEXT}\nhello\nworld\n\n${SIG}`, /not a go.sum database tree/],
    ["a bad tree size", `25\n${TEXT}\n${TREE.replace("31988262", "lots")}\n${SIG}`, /bad size/],
    ["a bad root hash", `25\n${TEXT}\n${TREE.replace("qDOa", "q")}\n${SIG}`, /bad root hash/],
    ["a record beyond the tree", REAL.replace(/^25/, "31988262"), /not in the tree/],
  ])("refuses %s", (_name, body, reason) => {
    expect(checkLookup(typeof body === "string" ? enc(body) : body, DB, "golang.org/x/text", "v0.3.0")).toMatch(reason);
  });

  test("invalid UTF-8 is refused", () => {
    const bytes = Buffer.concat([enc(REAL.slice(0, 10)), Uint8Array.of(0xff, 0xfe), enc(REAL.slice(10))]);
    expect(checkLookup(bytes, DB, "golang.org/x/text", "v0.3.0")).toMatch(/not UTF-8/);
  });
});

describe("checkSignedTree (latest)", () => {
  test.each([
    ["a tree head", `${TREE}\n${SIG}`, undefined],
    ["the test helper's note", treeNote(DB), undefined],
    ["an unsigned tree", TREE, /blank line|signature/],
    ["a lookup answer", REAL, /not a go.sum database tree/],
    ["HTML", "<html>\n\n</html>\n", /signature/],
  ])("%s", (_name, body, want) => {
    const r = checkSignedTree(enc(body), DB);
    if (want === undefined) expect(r).toBeUndefined();
    else expect(r).toMatch(want);
  });
});

describe("routes carry the validators", () => {
  test("lookup: checked against the decoded module and version", () => {
    const route = routeSumdb([DB], `${DB}/lookup/example.com/!upper/!mod@v1.0.1-!r!c1`);
    expect("validator" in route && route.validator?.what).toBe("sumdb lookup");
    const v = (route as { validator: { check(b: Uint8Array): string | undefined } }).validator;
    expect(v.check(enc(lookupAnswer(DB, "example.com/Upper/Mod", "v1.0.1-RC1")))).toBeUndefined();
    expect(v.check(enc(lookupAnswer(DB, "example.com/!upper/!mod", "v1.0.1-!r!c1")))).toMatch(/not exactly/);
  });

  test("latest: a signed tree of that database; tiles: none", () => {
    const latest = routeSumdb([DB], `${DB}/latest`) as { validator: { check(b: Uint8Array): string | undefined } };
    expect(latest.validator.check(enc(treeNote("sum.example")))).toMatch(/no signature by sum.golang.org/);
    expect((routeSumdb([DB], `${DB}/tile/8/0/000`) as { validator?: unknown }).validator).toBeUndefined();
  });
});
