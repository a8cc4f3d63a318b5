/** Module proxy paths: case encoding, module path and version checks, request parsing. */
import { describe, expect, test } from "bun:test";
import { escapeCase, isCanonicalVersion, isModulePath, parseModPath, unescapeCase, type ModRequest, type PathError } from "../../src/modproxy/paths.ts";
import { routeSumdb } from "../../src/modproxy/sumdb.ts";

describe("case encoding", () => {
  test.each([
    ["example.com/!upper/!mod", "example.com/Upper/Mod"],
    ["github.com/!azure/azure-sdk-for-go", "github.com/Azure/azure-sdk-for-go"],
    ["v1.0.0-!r!c1", "v1.0.0-RC1"],
    ["plain.example/x", "plain.example/x"],
  ])("%s <-> %s", (escaped, plain) => {
    expect(unescapeCase(escaped)).toBe(plain);
    expect(escapeCase(plain)).toBe(escaped);
  });

  test.each(["example.com/Upper", "example.com/!", "example.com/!!a", "example.com/!1", "example.com/!-x", "v1.0.0-!R"])("%s is invalid", (s) => {
    expect(unescapeCase(s)).toBeUndefined();
  });
});

describe("module paths", () => {
  test.each([
    ["example.com/hello", true], ["golang.org/x/tools", true], ["gopkg.in/yaml.v3", true], ["github.com/a/b/v2", true],
    ["example.com/Upper/Mod", true], ["example.com/a~b+c_d", true],
    ["", false], ["example", false], ["Example.com/x", false], ["-x.com/y", false], ["example.com//x", false], ["example.com/x/", false],
    ["/example.com/x", false], ["example.com/../x", false], ["example.com/./x", false], ["example.com/.x", false], ["example.com/x.", false],
    ["example.com/a b", false], ["example.com/a@b", false], ["example.com/a\\b", false], ["example.com/é", false],
  ])("%j -> %p", (p, ok) => expect(isModulePath(p as string)).toBe(ok as boolean));
});

describe("canonical versions", () => {
  test.each([
    ["v1.0.0", true], ["v0.0.0-20240102030405-abcdefabcdef", true], ["v1.2.4-0.20240102030405-abcdefabcdef", true],
    ["v2.0.0+incompatible", true], ["v1.2.0-pre.1", true], ["v1.0.1-RC1", true], ["v1.0.0-rc.1+incompatible", true],
    ["v1.0", false], ["v1", false], ["1.0.0", false], ["v01.0.0", false], ["v1.0.0-01", false], ["master", false], ["v1.0.0+meta", false], ["v1.0.0-", false],
  ])("%s -> %p", (v, ok) => expect(isCanonicalVersion(v as string)).toBe(ok as boolean));
});

describe("request paths", () => {
  const ok = (rest: string) => {
    const r = parseModPath(rest);
    if ("status" in r) throw new Error(`${rest}: ${r.reason}`);
    return r as ModRequest;
  };
  test.each([
    ["example.com/hello/@v/list", "list", "example.com/hello", undefined],
    ["example.com/hello/@latest", "latest", "example.com/hello", undefined],
    ["example.com/hello/@v/v1.0.0.info", "info", "example.com/hello", "v1.0.0"],
    ["example.com/hello/@v/master.info", "info", "example.com/hello", "master"],
    ["example.com/!upper/!mod/@v/v1.0.1-!r!c1.zip", "zip", "example.com/Upper/Mod", "v1.0.1-RC1"],
    ["example.com/hello/v2/@v/v2.0.0.mod", "mod", "example.com/hello/v2", "v2.0.0"],
  ])("%s", (rest, kind, module, version) => {
    const r = ok(rest);
    expect([r.kind, r.module, r.version]).toEqual([kind as ModRequest["kind"], module, version]);
  });

  test.each([
    ["example.com/Hello/@v/list", 400], ["example.com/!hello!/@v/list", 400], ["example.com/!Hello/@v/list", 400],
    ["example.com/../x/@v/list", 400], ["../etc/@v/list", 400], ["/example.com/x/@v/list", 400], ["example.com//x/@v/list", 400],
    ["example.com/x/@v/V1.0.0.info", 400], ["example.com/x/@v/v1.0.0-!.info", 400], ["example.com/x/@v/..info", 400], ["example.com/x/@v/.zip", 400],
    ["example.com/x/@v/%2e%2e%2fx.info", 400], ["example.com/x/@v/%zz.info", 400], ["example.com%2fx/@v/list", 400],
    ["example.com/x/@v/master.zip", 404], ["example.com/x/@v/v1.0.mod", 404], ["example.com/x/@v/v1.0.0.tar", 404], ["example.com/x", 404], ["", 404], ["@v/list", 404],
    ["example.com/x/@v/list/extra", 404],
  ])("%s -> %d", (rest, status) => {
    const r = parseModPath(rest);
    expect("status" in r ? (r as PathError).status : 200).toBe(status as number);
  });
});

describe("checksum database routes", () => {
  const names = ["sum.golang.org", "sum.example:8443"];
  test.each([
    ["sum.golang.org/supported", "supported"], ["sum.golang.org/latest", "mutable"],
    ["sum.golang.org/lookup/example.com/!upper/!mod@v1.0.0", "immutable"], ["sum.golang.org/tile/8/0/000", "immutable"],
    ["sum.golang.org/tile/8/1/x001/234", "immutable"], ["sum.golang.org/tile/8/data/005", "immutable"], ["sum.golang.org/tile/8/0/001.p/5", "pass"],
    ["sum.example:8443/supported", "supported"],
  ])("%s -> %s", (rest, action) => {
    const r = routeSumdb(names, rest);
    expect<unknown>("action" in r ? r.action : r.status).toBe(action);
  });
  test.each([
    ["sum.other.org/supported", 404], ["sum.golang.org/lookup/example.com/Upper@v1.0.0", 400], ["sum.golang.org/lookup/../x@v1.0.0", 400],
    ["sum.golang.org/lookup/example.com/x@master", 404], ["sum.golang.org/tile/8/0/../000", 404], ["sum.golang.org/tile/8/0/0001", 404], ["sum.golang.org/", 404], ["sum.golang.org", 404],
  ])("%s -> %d", (rest, status) => {
    const r = routeSumdb(names, rest);
    expect("status" in r ? r.status : 200).toBe(status as number);
  });
});
