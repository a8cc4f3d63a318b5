/**
 * GOPROXY request paths: the `!` case encoding, module path and version
 * checks, and parsing a path below /mod/ into what it asks for.
 *
 * Case encoding: every capital letter is written as `!` plus its lower-case
 * form, so `example.com/Upper/Mod` travels as `example.com/!upper/!mod`. An
 * escaped string therefore never holds a capital letter, and `!` is only
 * ever followed by a lower-case letter; anything else is invalid.
 *
 * The checks are ours, written for the proxy side: they refuse what could
 * not be a module path (empty or dot-only elements, leading or trailing
 * dots, characters outside `A-Za-z0-9-._~+`, a first element without a dot)
 * and never let a request name a file outside the cache directory.
 */

export type ModKind = "list" | "latest" | "info" | "mod" | "zip";

/** One parsed request: `module` and `version` are unescaped, `esc*` are as sent. */
export interface ModRequest {
  kind: ModKind;
  module: string;
  escModule: string;
  /** Absent for list and @latest. */
  version?: string;
  escVersion?: string;
}

/** Case-encodes a module path or version. */
export function escapeCase(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
}

/** Decodes the case encoding; undefined for a raw capital or a bad `!` escape. */
export function unescapeCase(s: string): string | undefined {
  if (/[A-Z]/.test(s) || /![^a-z]|!$/.test(s)) return undefined;
  return s.replace(/!([a-z])/g, (_, c: string) => c.toUpperCase());
}

const ELEM = /^[A-Za-z0-9\-._~+]+$/;

/** Whether `p` (unescaped) is acceptable as a module path. */
export function isModulePath(p: string): boolean {
  if (p.length === 0 || p.length > 500) return false;
  const elems = p.split("/");
  for (const e of elems) {
    if (!ELEM.test(e) || e.startsWith(".") || e.endsWith(".")) return false;
  }
  const first = elems[0]!;
  return first.includes(".") && /^[a-z0-9.\-]+$/.test(first) && !first.startsWith("-");
}

/** Whether `v` (unescaped) is acceptable as a version or query: one path element, no `!`. */
export function isVersionElement(v: string): boolean {
  return v.length > 0 && v.length <= 200 && ELEM.test(v) && !v.startsWith(".") && !v.endsWith(".");
}

const NUM = "(?:0|[1-9][0-9]*)";
const PRE_ID = `(?:${NUM}|[0-9]*[A-Za-z\\-][0-9A-Za-z\\-]*)`;
const CANONICAL = new RegExp(`^v${NUM}\\.${NUM}\\.${NUM}(?:-${PRE_ID}(?:\\.${PRE_ID})*)?(?:\\+incompatible)?$`);

/**
 * Whether `v` is a canonical semantic version as the go command records it:
 * `vX.Y.Z[-pre][+incompatible]`, pseudo-versions included. Only such
 * versions have immutable .info/.mod/.zip files; anything else is a query.
 */
export function isCanonicalVersion(v: string): boolean {
  return CANONICAL.test(v);
}

/** Decodes percent escapes of each segment; undefined when malformed. */
function decodeSegments(p: string): string[] | undefined {
  try {
    return p.split("/").map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

/** Why a path was refused; `status` is what to answer. */
export interface PathError { status: 400 | 404; reason: string }

/** Parses `rest` (the part after /mod/) into a request, or says why not. */
export function parseModPath(rest: string): ModRequest | PathError {
  const segs = decodeSegments(rest);
  if (!segs || segs.some((s) => s.includes("/"))) return { status: 400, reason: "malformed percent-encoding" };
  let kind: ModKind;
  let modSegs: string[];
  let escVersion: string | undefined;
  const at = segs.indexOf("@v");
  if (segs.length >= 2 && segs[segs.length - 1] === "@latest") {
    kind = "latest";
    modSegs = segs.slice(0, -1);
  } else if (at > 0 && at === segs.length - 2) {
    modSegs = segs.slice(0, at);
    const file = segs[at + 1]!;
    const m = /^(.*)\.(info|mod|zip)$/.exec(file);
    if (file === "list") kind = "list";
    else if (m) {
      kind = m[2] as ModKind;
      escVersion = m[1]!;
    } else return { status: 404, reason: `unknown file ${JSON.stringify(file)}` };
  } else return { status: 404, reason: "not a module proxy path (want <module>/@v/list, <module>/@v/<version>.info|.mod|.zip or <module>/@latest)" };

  const escModule = modSegs.join("/");
  const module = unescapeCase(escModule);
  if (module === undefined) return { status: 400, reason: `bad case encoding in module path ${JSON.stringify(escModule)}` };
  if (!isModulePath(module)) return { status: 400, reason: `invalid module path ${JSON.stringify(module)}` };
  if (escVersion === undefined) return { kind, module, escModule };
  const version = unescapeCase(escVersion);
  if (version === undefined) return { status: 400, reason: `bad case encoding in version ${JSON.stringify(escVersion)}` };
  if (!isVersionElement(version)) return { status: 400, reason: `invalid version ${JSON.stringify(version)}` };
  if ((kind === "mod" || kind === "zip") && !isCanonicalVersion(version)) {
    return { status: 404, reason: `${version} is not a canonical version (the go command asks for .${kind} of canonical versions only)` };
  }
  return { kind, module, escModule, version, escVersion };
}

/** The file name of a request below `<module>/`: `@v/list`, `@latest`, `@v/<version>.<ext>`. */
export function fileOf(r: ModRequest): string {
  if (r.kind === "list") return "@v/list";
  if (r.kind === "latest") return "@latest";
  return `@v/${r.escVersion}.${r.kind}`;
}

/** Whether the answer to `r` never changes: .mod/.zip, and .info of a canonical version. */
export function isImmutable(r: ModRequest): boolean {
  return r.kind === "mod" || r.kind === "zip" || (r.kind === "info" && isCanonicalVersion(r.version!));
}
