/**
 * What a small module proxy file must look like before it is cached (from
 * upstream) or trusted (from the bucket), and how large it may be. An answer
 * that fails is still passed to the client, uncached: the go command judges
 * it itself, but a wrong answer must not outlive the request.
 *
 * - `.mod`: a go.mod (see gomod.ts) whose module line is exactly the
 *   requested module path, at most 16 MiB (the go command's limit);
 * - `.info` of a canonical version: a JSON object whose `Version` is that
 *   version; of a query and `@latest`: whose `Version` is a canonical
 *   version; `Time`, when present, an RFC 3339 time (at most 64 KiB);
 * - `list`: lines that are each empty or one semantic version (at most 4 MiB);
 * - checksum database `lookup` and `latest`: see sumcheck.ts (at most 1 MiB).
 *
 * JSON field names match case-insensitively, the last one winning, as Go's
 * encoding/json does.
 */
import { goModModulePath } from "./gomod.ts";
import { isCanonicalVersion, type ModRequest } from "./paths.ts";
import { checkLookup, checkSignedTree } from "./sumcheck.ts";

/** A check of one kind of file: `check` says why `bytes` is unacceptable, or undefined. */
export interface Validator {
  /** The kind of file, for metrics and log lines: "mod", "info", "list", ... */
  what: string;
  maxBytes: number;
  check(bytes: Uint8Array): string | undefined;
}

export const MAX_MOD_BYTES = 16 << 20;
export const MAX_INFO_BYTES = 64 << 10;
export const MAX_LIST_BYTES = 4 << 20;
export const MAX_SUMDB_BYTES = 1 << 20;

const text = (b: Uint8Array) => new TextDecoder().decode(b);

const NUM = "(?:0|[1-9][0-9]*)";
const PRE = `(?:${NUM}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)`;
const SEMVER = new RegExp(`^v${NUM}(?:\\.${NUM}(?:\\.${NUM}(?:-${PRE}(?:\\.${PRE})*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?)?)?$`);

/** golang.org/x/mod/semver.IsValid: `vMAJOR[.MINOR[.PATCH[-pre][+build]]]`. */
export const isSemver = (v: string) => SEMVER.test(v);

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/** The last value whose key equals `name` ignoring case (encoding/json's matching). */
function field(obj: Record<string, unknown>, name: string): unknown {
  let v: unknown;
  for (const [k, x] of Object.entries(obj)) if (k.toLowerCase() === name.toLowerCase()) v = x;
  return v;
}

/** Why `bytes` is not a go.mod declaring `module`. */
export function checkMod(bytes: Uint8Array, module: string): string | undefined {
  const r = goModModulePath(text(bytes));
  if ("error" in r) return `not a go.mod: ${r.error}`;
  return r.path === module ? undefined : `go.mod declares module ${JSON.stringify(r.path.slice(0, 200))}, not ${module}`;
}

/** Why `bytes` is not an .info for `version` (or, without it, for some canonical version). */
export function checkInfo(bytes: Uint8Array, version?: string): string | undefined {
  if (bytes.length > MAX_INFO_BYTES) return `info: larger than ${MAX_INFO_BYTES} bytes`;
  let obj: unknown;
  try { obj = JSON.parse(text(bytes)); } catch { return "info: not JSON"; }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return "info: not a JSON object";
  const v = field(obj as Record<string, unknown>, "Version");
  if (typeof v !== "string") return "info: no string Version";
  if (version !== undefined ? v !== version : !isCanonicalVersion(v)) return `info: Version ${JSON.stringify(v.slice(0, 100))} is not ${version ?? "a canonical version"}`;
  const t = field(obj as Record<string, unknown>, "Time");
  if (t !== undefined && t !== null && !(typeof t === "string" && RFC3339.test(t))) return "info: Time is not an RFC 3339 time";
  return undefined;
}

/** Why `bytes` is not a version list. */
export function checkList(bytes: Uint8Array): string | undefined {
  const bad = text(bytes).split("\n").map((l) => l.trim()).find((l) => l !== "" && !isSemver(l));
  return bad === undefined ? undefined : `list: ${JSON.stringify(bad.slice(0, 100))} is not a version`;
}

/** The validator for a module proxy request. */
export function validatorFor(r: ModRequest): Validator {
  switch (r.kind) {
    case "mod": return { what: "mod", maxBytes: MAX_MOD_BYTES, check: (b) => checkMod(b, r.module) };
    case "info": {
      const exact = isCanonicalVersion(r.version!);
      return { what: exact ? "info" : "query info", maxBytes: MAX_INFO_BYTES, check: (b) => checkInfo(b, exact ? r.version : undefined) };
    }
    case "latest": return { what: "latest", maxBytes: MAX_INFO_BYTES, check: (b) => checkInfo(b) };
    case "list": return { what: "list", maxBytes: MAX_LIST_BYTES, check: checkList };
    case "zip": throw new Error(`[modproxy] ${r.escModule}/@v/${r.escVersion}.zip: zips are checked by zipcheck.ts`);
  }
}

/** The validator for a checksum database lookup of `module`@`version` (unescaped). */
export const lookupValidator = (db: string, module: string, version: string): Validator =>
  ({ what: "sumdb lookup", maxBytes: MAX_SUMDB_BYTES, check: (b) => checkLookup(b, db, module, version) });

/** The validator for a checksum database's `latest`. */
export const latestValidator = (db: string): Validator =>
  ({ what: "sumdb latest", maxBytes: MAX_SUMDB_BYTES, check: (b) => checkSignedTree(b, db) });
