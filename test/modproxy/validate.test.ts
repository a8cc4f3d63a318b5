/** What a .mod, .info and list must look like before the module proxy caches them (validate.ts, gomod.ts). */
import { describe, expect, test } from "bun:test";
import { parseModPath, type ModRequest } from "../../src/modproxy/paths.ts";
import { goModModulePath } from "../../src/modproxy/gomod.ts";
import { MAX_INFO_BYTES, MAX_LIST_BYTES, MAX_MOD_BYTES, checkInfo, checkList, checkMod, isSemver, validatorFor } from "../../src/modproxy/validate.ts";

const enc = (s: string) => new TextEncoder().encode(s);

describe("goModModulePath (modfile's lax parse, module line)", () => {
  test.each([
    ["plain", "module example.com/m\n", "example.com/m"],
    ["no final newline", "module example.com/m", "example.com/m"],
    ["quoted", 'module "example.com/m"\n', "example.com/m"],
    ["quoted with escapes", 'module "example.com/\\x6d\\u0031"\n', "example.com/m1"],
    ["block", "module (\n\texample.com/m\n)\n", "example.com/m"],
    ["block with comments and blank lines", "module ( // the path\n\n\t// it is:\n\texample.com/m // here\n)\n", "example.com/m"],
    ["comments, go, require, unknown directives", "// Package m.\nmodule example.com/m // trailing\n\ngo 1.21\n\nrequire (\n\texample.com/x v1.0.0\n)\n\ntoolchain go1.22.1\nfuture directive ( a b )\n", "example.com/m"],
    ["CRLF line ends", "module example.com/m\r\n\r\ngo 1.20\r\n", "example.com/m"],
    ["lax go version", "module example.com/m\ngo 1.18beta\n", "example.com/m"],
    ["comment without newline at end", "module example.com/m\n// end", "example.com/m"],
    ["ident ends at //", "module example.com/m// no space\n", "example.com/m"],
    ["empty block of another verb", "replace ( )\nmodule example.com/m\n", "example.com/m"],
    ["a go block is ignored", "module example.com/m\ngo (\n\tnot-a-version\n)\n", "example.com/m"],
    ["multi-word block verbs are ignored", "require example.com/x (\n\tmodule example.com/other\n)\nmodule example.com/m\n", "example.com/m"],
  ])("%s", (_name, src, path) => {
    expect(goModModulePath(src)).toEqual({ path });
  });

  test.each([
    ["a version number", "v1.0.0\n", /missing module declaration/],
    ["empty", "", /missing module declaration/],
    ["HTML", "<html><body>Bad gateway</body></html>\n", /missing module declaration/],
    ["two module lines", "module example.com/m\nmodule example.com/m\n", /repeated module/],
    ["two paths", "module example.com/m example.com/n\n", /usage: module/],
    ["no path", "module\n", /usage: module/],
    ["block of two", "module (\n\texample.com/m\n\texample.com/n\n)\n", /repeated module/],
    ["empty module block", "module ( )\n", /missing module declaration/],
    ["/* comment */", "/* c */\nmodule example.com/m\n", /\/\/ comments/],
    ["/* inside a word", "module example.com/m/*x*/\n", /\/\/ comments/],
    ["newline in string", 'module "example.com/m\n"\n', /newline in string/],
    ["unterminated string", 'module "example.com/m', /EOF in string/],
    ["backquoted path", "module `example.com/m`\n", /quote/],
    ["stray quote", "module example.com/'m'\n", /quote/],
    ["bad escape", 'module "example.com/\\q"\n', /invalid quoted string/],
    ["control character", "module example.com/m\x01\n", /unexpected input character/],
    ["byte order mark", "\ufeffmodule example.com/m\n", /unexpected input character/],
    ["unterminated block", "module example.com/m\nrequire (\n\texample.com/x v1.0.0\n", /unterminated block/],
    ["text after closing paren", "require (\n\texample.com/x v1.0.0\n) x\nmodule example.com/m\n", /expected newline after closing paren/],
    ["two go lines", "module example.com/m\ngo 1.20\ngo 1.21\n", /repeated go/],
    ["bad go version", "module example.com/m\ngo one\n", /invalid go version/],
    ["go with two arguments", "module example.com/m\ngo 1.20 1.21\n", /exactly one argument/],
  ])("%s is refused", (_name, src, reason) => {
    const r = goModModulePath(src);
    expect("error" in r).toBe(true);
    expect((r as { error: string }).error).toMatch(reason);
  });
});

describe("checkMod", () => {
  test.each([
    ["exact path", "example.com/m", "module example.com/m\n", undefined],
    ["/v2 suffix", "example.com/m/v2", "module example.com/m/v2\n", undefined],
    ["capitals (decoded from !-encoding)", "example.com/Upper/Mod", "module example.com/Upper/Mod\n", undefined],
    ["gopkg.in style", "gopkg.in/yaml.v3", 'module "gopkg.in/yaml.v3"\n', undefined],
    ["another module", "example.com/m", "module example.com/evil\n", /declares module "example.com\/evil", not example.com\/m/],
    ["missing /v2", "example.com/m/v2", "module example.com/m\n", /not example.com\/m\/v2/],
    ["case differs", "example.com/Upper/Mod", "module example.com/upper/mod\n", /declares module/],
    ["garbage", "example.com/m", "v1.0.0\n", /not a go.mod: missing module declaration/],
  ])("%s", (_name, module, src, want) => {
    const r = checkMod(enc(src), module);
    if (want === undefined) expect(r).toBeUndefined();
    else expect(r).toMatch(want);
  });
});

describe("checkInfo", () => {
  const t = "2024-01-02T03:04:05Z";
  test.each([
    ["the version asked for", `{"Version":"v1.0.0","Time":"${t}"}`, "v1.0.0", undefined],
    ["extra fields, fractional time with offset", `{"Version":"v1.0.0","Time":"2024-01-02T03:04:05.123+02:00","Origin":{"VCS":"git"}}`, "v1.0.0", undefined],
    ["no Time, lower-case key (encoding/json matches case-insensitively)", `{"version":"v1.0.0"}`, "v1.0.0", undefined],
    ["Time null", `{"Version":"v1.0.0","Time":null}`, "v1.0.0", undefined],
    ["query: any canonical version", `{"Version":"v0.0.0-20240102030405-abcdefabcdef","Time":"${t}"}`, undefined, undefined],
    ["another version", `{"Version":"v1.0.1"}`, "v1.0.0", /Version "v1.0.1" is not v1.0.0/],
    ["the last of two spellings wins", `{"Version":"v1.0.0","VERSION":"v9.9.9"}`, "v1.0.0", /v9.9.9/],
    ["query: not canonical", `{"Version":"master"}`, undefined, /not a canonical version/],
    ["a version number only", "v1.0.0\n", "v1.0.0", /not JSON/],
    ["an array", `[{"Version":"v1.0.0"}]`, "v1.0.0", /not a JSON object/],
    ["null", "null", "v1.0.0", /not a JSON object/],
    ["Version a number", `{"Version":1}`, "v1.0.0", /no string Version/],
    ["no Version", `{"Time":"${t}"}`, undefined, /no string Version/],
    ["bad Time", `{"Version":"v1.0.0","Time":"yesterday"}`, "v1.0.0", /RFC 3339/],
    ["Time a number", `{"Version":"v1.0.0","Time":1700000000}`, "v1.0.0", /RFC 3339/],
  ])("%s", (_name, body, version, want) => {
    const r = checkInfo(enc(body), version);
    if (want === undefined) expect(r).toBeUndefined();
    else expect(r).toMatch(want);
  });

  test("an .info over 64 KiB is refused", () => {
    const big = `{"Version":"v1.0.0","Pad":"${"x".repeat(MAX_INFO_BYTES)}"}`;
    expect(checkInfo(enc(big), "v1.0.0")).toMatch(/larger than/);
  });
});

describe("checkList and isSemver", () => {
  test.each([
    ["empty (no tagged versions)", "", undefined],
    ["versions", "v1.0.0\nv1.1.0\nv1.2.0-pre.1\nv2.0.0+incompatible\n", undefined],
    ["CRLF, blank lines, no final newline", "v1.0.0\r\n\r\nv1.1.0", undefined],
    ["HTML", "<html>\n", /"<html>" is not a version/],
    ["a word", "v1.0.0\nlatest\n", /"latest" is not a version/],
    ["two fields", "v1.0.0 2024-01-02\n", /is not a version/],
  ])("list: %s", (_name, body, want) => {
    const r = checkList(enc(body));
    if (want === undefined) expect(r).toBeUndefined();
    else expect(r).toMatch(want);
  });

  test.each([
    ["v1", true], ["v1.2", true], ["v1.2.3", true], ["v1.2.3-rc.1+build.5", true], ["v0.0.0-20240102030405-abcdefabcdef", true],
    ["1.2.3", false], ["v1.2.3-01", false], ["v01.2.3", false], ["v1.2-pre", false], ["v1.2.3+", false], ["v1.2.3.4", false],
  ])("isSemver(%s) is %p", (v, ok) => {
    expect(isSemver(v)).toBe(ok);
  });
});

describe("validatorFor", () => {
  const req = (p: string) => parseModPath(p) as ModRequest;
  test.each([
    ["example.com/m/@v/v1.0.0.mod", "mod", MAX_MOD_BYTES],
    ["example.com/m/@v/v1.0.0.info", "info", MAX_INFO_BYTES],
    ["example.com/m/@v/main.info", "query info", MAX_INFO_BYTES],
    ["example.com/m/@latest", "latest", MAX_INFO_BYTES],
    ["example.com/m/@v/list", "list", MAX_LIST_BYTES],
  ])("%s: %s, at most %d bytes", (p, what, max) => {
    const v = validatorFor(req(p));
    expect([v.what, v.maxBytes]).toEqual([what, max]);
  });

  test("the .mod validator compares with the decoded module path", () => {
    const v = validatorFor(req("example.com/!upper/@v/v1.0.0.mod"));
    expect(v.check(enc("module example.com/Upper\n"))).toBeUndefined();
    expect(v.check(enc("module example.com/!upper\n"))).toMatch(/declares module/);
  });

  test("a zip has no validator (zipcheck.ts checks zips)", () => {
    expect(() => validatorFor(req("example.com/m/@v/v1.0.0.zip"))).toThrow(/\[modproxy\]/);
  });
});
