/**
 * The checksum database proxy (`/mod/sumdb/<name>/...`), as a pure routing
 * decision; mount.ts carries it out. For each name configured with --sumdb:
 *
 *   supported                        answered here: 200, never asked upstream
 *   lookup/<module>@<version>        immutable (case-encoded; canonical versions only)
 *   tile/<H>/<L>/<K>                 immutable (full tiles never change)
 *   tile/<H>/<L>/<K>.p/<W>           passed through, uncached (partial tiles go away)
 *   latest                           mutable, fresh for a few seconds
 *
 * Upstream is `<modproxy-upstream>/sumdb/<name>/<rest>`: proxies such as
 * proxy.golang.org serve the databases they know there. The go command
 * verifies signed tree heads and proofs itself; lookup and latest answers
 * carry a validator (validate.ts) so that what could never verify is not
 * cached. Storage keys are `sumdb/<name>/<rest>`.
 */
import { isCanonicalVersion, isModulePath, isVersionElement, unescapeCase, type PathError } from "./paths.ts";
import { latestValidator, lookupValidator, type Validator } from "./validate.ts";

export type SumdbRoute =
  | { action: "supported" }
  | { action: "immutable" | "pass"; key: string; upstreamPath: string; validator?: Validator }
  | { action: "mutable"; key: string; upstreamPath: string; ttlMs: number; validator: Validator };

/** How long `latest` is served without asking upstream again. */
export const LATEST_TTL_MS = 5_000;

const TILE = /^tile\/\d{1,2}\/(?:\d{1,2}|data)\/(?:x\d{3}\/)*\d{3}(\.p\/\d{1,3})?$/;

/** A checksum database name as configured: a host name, optionally with a port. */
export const isSumdbName = (name: string) => /^[a-z0-9][a-z0-9\-]*(\.[a-z0-9\-]+)*(:\d{1,5})?$/.test(name);

/** Routes `rest` (after /mod/sumdb/) for the configured database names. */
export function routeSumdb(names: readonly string[], rest: string): SumdbRoute | PathError {
  const slash = rest.indexOf("/");
  const name = slash < 0 ? rest : rest.slice(0, slash);
  const sub = slash < 0 ? "" : rest.slice(slash + 1);
  if (!names.includes(name)) return { status: 404, reason: `unknown checksum database ${JSON.stringify(name)} (this proxy serves: ${names.join(", ") || "none"})` };
  const at = (action: "immutable" | "pass") => ({ action, key: `sumdb/${name}/${sub}`, upstreamPath: `sumdb/${name}/${sub}` });
  if (sub === "supported") return { action: "supported" };
  if (sub === "latest") return { action: "mutable", key: `sumdb/${name}/latest`, upstreamPath: `sumdb/${name}/latest`, ttlMs: LATEST_TTL_MS, validator: latestValidator(name) };
  const tile = TILE.exec(sub);
  if (tile) return at(tile[1] ? "pass" : "immutable");
  if (sub.startsWith("lookup/")) {
    const what = sub.slice("lookup/".length);
    const i = what.lastIndexOf("@");
    const mod = i > 0 ? unescapeCase(what.slice(0, i)) : undefined;
    const ver = i > 0 ? unescapeCase(what.slice(i + 1)) : undefined;
    if (mod === undefined || ver === undefined || !isModulePath(mod) || !isVersionElement(ver)) return { status: 400, reason: `malformed lookup ${JSON.stringify(what)} (want <module>@<version>, case-encoded)` };
    if (!isCanonicalVersion(ver)) return { status: 404, reason: `lookup: ${ver} is not a canonical version` };
    return { ...at("immutable"), validator: lookupValidator(name, mod, ver) };
  }
  return { status: 404, reason: `not a checksum database path: ${JSON.stringify(sub)}` };
}
